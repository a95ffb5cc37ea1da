// Package catalog reads Operator Lifecycle Manager file-based catalogs (FBC),
// selects bundles the way an image set configuration asks, and writes the
// filtered catalog back, with every kept channel a valid upgrade graph.
package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"
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
}

// Package with its channels, bundles and other documents.
type Package struct {
	Name           string
	DefaultChannel string
	Doc            map[string]any // the olm.package document as read
	Channels       map[string]*Channel
	Bundles        map[string]*Bundle
	Others         []map[string]any // other schemas, kept when the package is
}

// Channel is an olm.channel.
type Channel struct {
	Name    string
	Entries []Entry
	Doc     map[string]any
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
	Doc     map[string]any
}

// RelatedImage of a bundle.
type RelatedImage struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// Parse reads every .json, .yaml and .yml file of files (path -> content).
// JSON files hold a stream of objects; YAML files documents split by ---.
func Parse(files map[string][]byte) (*FBC, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var docs []map[string]any
	var where []string
	for _, n := range names {
		var ds []map[string]any
		var err error
		switch strings.ToLower(path.Ext(n)) {
		case ".json":
			ds, err = jsonStream(files[n])
		case ".yaml", ".yml":
			ds, err = yamlDocs(files[n])
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("catalog file %s: %w", n, err)
		}
		for range ds {
			where = append(where, n)
		}
		docs = append(docs, ds...)
	}
	f := &FBC{Packages: map[string]*Package{}}
	pkg := func(name string) *Package {
		p := f.Packages[name]
		if p == nil {
			p = &Package{Name: name, Channels: map[string]*Channel{}, Bundles: map[string]*Bundle{}}
			f.Packages[name] = p
		}
		return p
	}
	for i, d := range docs {
		schema, _ := d["schema"].(string)
		switch schema {
		case SchemaPackage:
			name, _ := d["name"].(string)
			if name == "" {
				return nil, fmt.Errorf("catalog file %s: olm.package without name", where[i])
			}
			p := pkg(name)
			p.Doc = d
			p.DefaultChannel, _ = d["defaultChannel"].(string)
		case SchemaChannel:
			var c struct {
				Name    string  `json:"name"`
				Package string  `json:"package"`
				Entries []Entry `json:"entries"`
			}
			if err := remarshal(d, &c); err != nil || c.Name == "" || c.Package == "" {
				return nil, fmt.Errorf("catalog file %s: bad olm.channel %v: %v", where[i], d["name"], err)
			}
			pkg(c.Package).Channels[c.Name] = &Channel{Name: c.Name, Entries: c.Entries, Doc: d}
		case SchemaBundle:
			var b struct {
				Name       string `json:"name"`
				Package    string `json:"package"`
				Image      string `json:"image"`
				Properties []struct {
					Type  string          `json:"type"`
					Value json.RawMessage `json:"value"`
				} `json:"properties"`
				RelatedImages []RelatedImage `json:"relatedImages"`
			}
			if err := remarshal(d, &b); err != nil || b.Name == "" || b.Package == "" {
				return nil, fmt.Errorf("catalog file %s: bad olm.bundle %v: %v", where[i], d["name"], err)
			}
			bd := &Bundle{Name: b.Name, Package: b.Package, Image: b.Image, Related: b.RelatedImages, Doc: d}
			for _, pr := range b.Properties {
				if pr.Type != "olm.package" {
					continue
				}
				var v struct {
					Version string `json:"version"`
				}
				if json.Unmarshal(pr.Value, &v) == nil && v.Version != "" {
					sv, err := semver.NewVersion(v.Version)
					if err != nil {
						return nil, fmt.Errorf("catalog file %s: bundle %s: version %q: %v", where[i], b.Name, v.Version, err)
					}
					bd.Version = sv
				}
			}
			if bd.Version == nil {
				return nil, fmt.Errorf("catalog file %s: bundle %s has no olm.package version property", where[i], b.Name)
			}
			pkg(b.Package).Bundles[b.Name] = bd
		default:
			p, _ := d["package"].(string)
			if p == "" {
				continue // a document ocm cannot attach to a package is dropped with it
			}
			pkg(p).Others = append(pkg(p).Others, d)
		}
	}
	for _, p := range f.Packages {
		if p.Doc == nil {
			return nil, fmt.Errorf("catalog: package %s has channels or bundles but no olm.package document", p.Name)
		}
		for _, c := range p.Channels {
			for _, e := range c.Entries {
				if p.Bundles[e.Name] == nil {
					return nil, fmt.Errorf("catalog: package %s channel %s names bundle %s, which the catalog lacks", p.Name, c.Name, e.Name)
				}
			}
		}
	}
	return f, nil
}

func jsonStream(b []byte) ([]map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
}

func yamlDocs(b []byte) ([]map[string]any, error) {
	var out []map[string]any
	for _, part := range splitYAML(b) {
		if len(bytes.TrimSpace(part)) == 0 {
			continue
		}
		j, err := yaml.YAMLToJSON(part)
		if err != nil {
			return nil, err
		}
		ds, err := jsonStream(j)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// splitYAML splits at lines that are exactly "---".
func splitYAML(b []byte) [][]byte {
	var out [][]byte
	start := 0
	lines := bytes.SplitAfter(b, []byte("\n"))
	pos := 0
	for _, l := range lines {
		if strings.TrimRight(string(l), "\r\n") == "---" {
			out = append(out, b[start:pos])
			start = pos + len(l)
		}
		pos += len(l)
	}
	return append(out, b[start:])
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
