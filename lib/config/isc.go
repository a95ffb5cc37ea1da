// Package config reads image set configurations (mirror.openshift.io/v2alpha1
// ImageSetConfiguration and DeleteImageSetConfiguration) strictly: an unknown
// field, a wrong type, a bad reference or a forbidden combination is an
// error naming the file, the line, the field path and the fix.
package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/suggest"
)

// Kind of configuration.
type Kind string

const (
	KindImageSet Kind = "ImageSetConfiguration"
	KindDelete   Kind = "DeleteImageSetConfiguration"
)

// APIVersion is the only version ocm reads.
const APIVersion = "mirror.openshift.io/v2alpha1"

// Config is a parsed file.
type Config struct {
	Path        string   `json:"-"`
	Kind        Kind     `json:"kind"`
	APIVersion  string   `json:"apiVersion"`
	ArchiveSize int      `json:"archiveSize,omitempty"`
	Spec        ImageSet `json:"spec"` // mirror: or delete:
	// Warnings name fields oc-mirror accepts that ocm reads but does not
	// apply as oc-mirror does, each "file:line: field: why".
	Warnings []string `json:"-"`
}

// ImageSet is the content of mirror: or delete:.
type ImageSet struct {
	Platform         *Platform  `json:"platform,omitempty"`
	Operators        []Operator `json:"operators,omitempty"`
	AdditionalImages []Image    `json:"additionalImages,omitempty"`
	BlockedImages    []Image    `json:"blockedImages,omitempty"`
	Helm             *Helm      `json:"helm,omitempty"`
}

// Image is an additionalImages or blockedImages entry.
type Image struct {
	Name string `json:"name"`
	// TargetRepo and TargetTag override the destination path and tag
	// (additionalImages only).
	TargetRepo string   `json:"targetRepo,omitempty"`
	TargetTag  string   `json:"targetTag,omitempty"`
	Platforms  []string `json:"platforms,omitempty"` // os/arch
	// Pattern is set for a blockedImages entry that is not an image
	// reference: an unanchored regular expression, as oc-mirror 4.19+ reads it.
	Pattern bool `json:"-"`
	Line    int  `json:"-"`
}

// Platform is mirror.platform.
type Platform struct {
	Architectures []string          `json:"architectures,omitempty"`
	Channels      []PlatformChannel `json:"channels,omitempty"`
	Graph         bool              `json:"graph,omitempty"`
	// Release names one release payload by tag or digest, instead of
	// channels (e.g. a release candidate or a custom build).
	Release string `json:"release,omitempty"`
	// KubeVirtContainer adds each payload's KubeVirt container image (named
	// in its boot images ConfigMap) as a release component.
	KubeVirtContainer bool     `json:"kubeVirtContainer,omitempty"`
	Platforms         []string `json:"platforms,omitempty"` // os/arch
}

// PlatformChannel is a release channel entry.
type PlatformChannel struct {
	Name         string `json:"name"`
	MinVersion   string `json:"minVersion,omitempty"`
	MaxVersion   string `json:"maxVersion,omitempty"`
	Type         string `json:"type,omitempty"`
	Full         bool   `json:"full,omitempty"`
	ShortestPath bool   `json:"shortestPath,omitempty"`
	Line         int    `json:"-"`
}

// Operator is an operators[] entry: one catalog.
type Operator struct {
	Catalog                     string    `json:"catalog"`
	Full                        bool      `json:"full,omitempty"`
	Packages                    []Package `json:"packages,omitempty"`
	TargetCatalog               string    `json:"targetCatalog,omitempty"`
	TargetTag                   string    `json:"targetTag,omitempty"`
	TargetCatalogSourceTemplate string    `json:"targetCatalogSourceTemplate,omitempty"`
	SkipDependencies            bool      `json:"skipDependencies,omitempty"`
	Platforms                   []string  `json:"platforms,omitempty"` // os/arch
	Line                        int       `json:"-"`
}

// Package is a packages[] entry.
type Package struct {
	Name       string    `json:"name"`
	MinVersion string    `json:"minVersion,omitempty"`
	MaxVersion string    `json:"maxVersion,omitempty"`
	Channels   []Channel `json:"channels,omitempty"`
	Bundles    []Bundle  `json:"bundles,omitempty"`
	// DefaultChannel is the package's default channel in the rebuilt
	// catalog; needed when the channels kept drop the original one.
	DefaultChannel string `json:"defaultChannel,omitempty"`
	Line           int    `json:"-"`
}

// Channel is a package channels[] entry.
type Channel struct {
	Name       string `json:"name"`
	MinVersion string `json:"minVersion,omitempty"`
	MaxVersion string `json:"maxVersion,omitempty"`
	Line       int    `json:"-"`
}

// Bundle is a package bundles[] entry.
type Bundle struct {
	Name string `json:"name"`
	Line int    `json:"-"`
}

// Error is a configuration problem, on one line.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
	Fix   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString("; fix: " + e.Fix)
	}
	return strings.ReplaceAll(b.String(), "\n", " ")
}

// Load reads and parses path.
func Load(path string) (*Config, error) {
	b, err := capread.File(path, capread.Config)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return Parse(path, b)
}

// parser carries the file name for errors.
type parser struct {
	file     string
	warnings []string
}

func (p *parser) errf(n *yaml.Node, field, fix, format string, args ...any) *Error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...), Fix: fix}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse parses data; path names the file in errors.
func Parse(path string, data []byte) (*Config, error) {
	p := &parser{file: path}
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil, p.errf(nil, "", "start from an example in docs/isc.md", "the file is empty")
		}
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			var line int
			fmt.Sscan(m[1], &line)
			return nil, &Error{File: path, Line: line, Msg: "malformed YAML: " + m[2], Fix: "check indentation and colons"}
		}
		return nil, &Error{File: path, Msg: "malformed YAML: " + msg, Fix: "check indentation and colons"}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, p.errf(&extra, "", "keep one configuration per file", "more than one YAML document")
	}
	if len(doc.Content) == 0 {
		return nil, p.errf(nil, "", "start from an example in docs/isc.md", "the file is empty")
	}
	if a := findAlias(&doc); a != nil {
		return nil, p.errf(a, "", "write the value out in full where the alias stands", "YAML aliases (*%s) are not supported", a.Value)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "", "start from an example in docs/isc.md", "the file is not a YAML mapping")
	}
	cfg := &Config{Path: path}
	fields, err := p.mapping(root, "", "kind", "apiVersion", "archiveSize", "mirror", "delete", "metadata")
	if err != nil {
		return nil, err
	}
	kn := fields["kind"]
	if kn == nil {
		return nil, p.errf(root, "kind", "add kind: ImageSetConfiguration (or DeleteImageSetConfiguration)", "missing")
	}
	if err := p.str(kn, "kind", (*string)(&cfg.Kind)); err != nil {
		return nil, err
	}
	if cfg.Kind != KindImageSet && cfg.Kind != KindDelete {
		return nil, p.errf(kn, "kind", "use ImageSetConfiguration or DeleteImageSetConfiguration", "unknown kind %q", cfg.Kind)
	}
	av := fields["apiVersion"]
	if av == nil {
		return nil, p.errf(root, "apiVersion", "add apiVersion: "+APIVersion, "missing")
	}
	if err := p.str(av, "apiVersion", &cfg.APIVersion); err != nil {
		return nil, err
	}
	if cfg.APIVersion != APIVersion {
		msg := fmt.Sprintf("%q is not supported", cfg.APIVersion)
		if cfg.APIVersion == "mirror.openshift.io/v1alpha2" {
			msg += " (v1alpha2 is the format of oc-mirror v1)"
		}
		return nil, p.errf(av, "apiVersion", "use apiVersion: "+APIVersion, "%s", msg)
	}
	specKey := "mirror"
	if cfg.Kind == KindDelete {
		specKey = "delete"
	}
	for _, other := range []string{"mirror", "delete"} {
		if other != specKey && fields[other] != nil {
			return nil, p.errf(fields[other], other, fmt.Sprintf("a %s uses %s:", cfg.Kind, specKey), "unknown field %q for kind %s", other, cfg.Kind)
		}
	}
	if n := fields["archiveSize"]; n != nil {
		if cfg.Kind == KindDelete {
			return nil, p.errf(n, "archiveSize", "remove it", "archiveSize is not a field of DeleteImageSetConfiguration")
		}
		if err := n.Decode(&cfg.ArchiveSize); err != nil || n.Tag != "!!int" || cfg.ArchiveSize <= 0 {
			return nil, p.errf(n, "archiveSize", "write a whole number of GiB, e.g. archiveSize: 4", "%q is not a positive number of GiB", n.Value)
		}
	}
	sn := fields[specKey]
	if sn == nil {
		return nil, p.errf(root, specKey, "add "+specKey+": with additionalImages, operators or platform", "missing")
	}
	spec, err := p.imageSet(sn, specKey, cfg.Kind)
	if err != nil {
		return nil, err
	}
	cfg.Spec = *spec
	cfg.Warnings = p.warnings
	return cfg, nil
}

// findAlias returns the first alias node under n: ocm reads each value
// where it is written, so an alias would be misread as a wrong type.
func findAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return n
	}
	for _, c := range n.Content {
		if a := findAlias(c); a != nil {
			return a
		}
	}
	return nil
}

// mapping checks n is a mapping with only the allowed keys, returning them.
func (p *parser) mapping(n *yaml.Node, path string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, path, "", "must be a mapping (key: value lines), not %s", describe(n))
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := ""
		for _, a := range allowed {
			if k.Value == a {
				key = a
			}
		}
		field := join(path, k.Value)
		if key == "" {
			// oc-mirror decodes with encoding/json, which matches field
			// names in any letter case (one of its tests writes
			// additionalimages): read, and name the canonical spelling.
			for _, a := range allowed {
				if strings.EqualFold(k.Value, a) {
					key = a
				}
			}
			if key == "" {
				return nil, p.errf(k, field, closest(k.Value, allowed), "unknown field %q", k.Value)
			}
			p.warnf(k, field, "read as %q; write %q (the canonical spelling)", join(path, key), key)
		}
		if out[key] != nil {
			return nil, p.errf(k, field, "keep one", "field %q given twice", key)
		}
		out[key] = v
	}
	return out, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// closest suggests the allowed name nearest to s.
func closest(s string, allowed []string) string {
	sorted := append([]string(nil), allowed...)
	sort.Strings(sorted)
	best := suggest.Closest(s, allowed)[0]
	if suggest.Distance(strings.ToLower(s), strings.ToLower(best)) <= 3 {
		return fmt.Sprintf("did you mean %q? (allowed here: %s)", best, strings.Join(sorted, ", "))
	}
	return "allowed here: " + strings.Join(sorted, ", ")
}

func (p *parser) str(n *yaml.Node, path string, out *string) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return p.errf(n, path, "write a string", "must be a string, not %s", describe(n))
	}
	*out = n.Value
	return nil
}

// version reads a semantic version string (numbers like 4.15 are accepted
// when YAML typed them as floats).
func (p *parser) version(n *yaml.Node, path string, out *string) error {
	if err := p.str(n, path, out); err != nil {
		return err
	}
	if _, err := semver.NewVersion(*out); err != nil {
		return p.errf(n, path, "use a version like 4.15.3 or 5.2.3-31 (quote it)", "%q is not a semantic version", *out)
	}
	return nil
}

func (p *parser) boolean(n *yaml.Node, path string, out *bool) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return p.errf(n, path, "write true or false", "must be true or false, not %s", describe(n))
	}
	return n.Decode(out)
}

func (p *parser) list(n *yaml.Node, path string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, path, "write a list, one '- ' item per line", "must be a list, not %s", describe(n))
	}
	return n.Content, nil
}

func checkMinMax(p *parser, n *yaml.Node, path, min, max string) error {
	if min == "" || max == "" {
		return nil
	}
	if semver.MustParse(max).LessThan(semver.MustParse(min)) {
		return p.errf(n, path, "swap them", "minVersion %s is above maxVersion %s", min, max)
	}
	return nil
}
