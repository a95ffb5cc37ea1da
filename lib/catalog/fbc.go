// Package catalog reads Operator Lifecycle Manager file-based catalogs (FBC),
// selects bundles the way an image set configuration asks, and writes the
// filtered catalog back, with every kept channel a valid upgrade graph.
package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Schemas of FBC documents.
const (
	SchemaPackage     = "olm.package"
	SchemaChannel     = "olm.channel"
	SchemaBundle      = "olm.bundle"
	SchemaDeprecation = "olm.deprecations"
)

// ConfigsLabel names the declarative config directory in a catalog image.
const ConfigsLabel = "operators.operatorframework.io.index.configs.v1"

// FBC is a parsed catalog.
type FBC struct {
	Packages map[string]*Package
	// skipped names the packages of the catalog that were not read (see
	// ReadPackages), for suggestions.
	skipped map[string]bool
}

// Package with its channels, bundles and other documents.
type Package struct {
	Name           string
	DefaultChannel string
	Doc            map[string]any // the olm.package document as read
	Channels       map[string]*Channel
	Bundles        map[string]*Bundle
	Others         []map[string]any // other schemas, kept when the package is
	at             docRef
}

// Channel is an olm.channel.
type Channel struct {
	Name    string
	Entries []Entry
	Doc     map[string]any // without entries: Render writes them
	at      docRef
}

// Entry of a channel.
type Entry struct {
	Name      string   `json:"name"`
	Replaces  string   `json:"replaces,omitempty"`
	Skips     []string `json:"skips,omitempty"`
	SkipRange string   `json:"skipRange,omitempty"`
}

// Bundle is an olm.bundle.
type Bundle struct {
	Name    string
	Package string
	Image   string
	Version *semver.Version
	Related []RelatedImage
	Doc     map[string]any // only from Parse: Image.Layer reads it again
	at      docRef         // where its document is
	// spool holds the document as Render writes it, read again for the
	// bundles selected (Image.Rebuild).
	spool *spooled
}

// spooled is a document's text in a temporary file.
type spooled struct {
	f      *os.File
	off, n int64
}

// RelatedImage of a bundle.
type RelatedImage struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// Parse reads every .json, .yaml and .yml file of files (path -> content).
// JSON files hold a stream of objects; YAML files documents split by ---.
// Bundles keep their documents (Doc), for Render.
func Parse(files map[string][]byte) (*FBC, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	ps := newParser(nil, true, Limits{Document: 1 << 62})
	for _, n := range names {
		if err := ps.file(n, bytes.NewReader(files[n])); err != nil {
			return nil, err
		}
	}
	return ps.finish()
}

func remarshal(in any, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// Head returns the channel's head: the entry no other entry replaces or
// skips. OLM requires exactly one.
func (c *Channel) Head() (string, error) {
	ref := map[string]bool{}
	for _, e := range c.Entries {
		if e.Replaces != "" {
			ref[e.Replaces] = true
		}
		for _, s := range e.Skips {
			ref[s] = true
		}
	}
	var heads []string
	for _, e := range c.Entries {
		if !ref[e.Name] {
			heads = append(heads, e.Name)
		}
	}
	if len(heads) == 0 && len(c.Entries) > 0 {
		return "", fmt.Errorf("channel %s has no head: every entry is replaced or skipped by another, a cycle (%s); fix: the catalog is broken, ask its publisher or pick other channels", c.Name, strings.Join(c.cycle(), " -> "))
	}
	if len(heads) == 0 {
		return "", fmt.Errorf("channel %s has no entries", c.Name)
	}
	if len(heads) != 1 {
		sort.Strings(heads)
		return "", fmt.Errorf("channel %s has %d heads (%s)", c.Name, len(heads), strings.Join(heads, ", "))
	}
	return heads[0], nil
}

// cycle follows replaces from the first entry (by name) until an entry
// comes round again, and returns that loop; without replaces links (skips
// only) it names the entries.
func (c *Channel) cycle() []string {
	next := map[string]string{}
	var names []string
	for _, e := range c.Entries {
		next[e.Name] = e.Replaces
		names = append(names, e.Name)
	}
	sort.Strings(names)
	at := map[string]int{}
	var path []string
	for n := names[0]; n != ""; n = next[n] {
		if i, ok := at[n]; ok {
			return append(path[i:], n)
		}
		at[n] = len(path)
		path = append(path, n)
	}
	return names
}

// SortedPackages returns package names in order.
func (f *FBC) SortedPackages() []string {
	out := make([]string, 0, len(f.Packages))
	for n := range f.Packages {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
