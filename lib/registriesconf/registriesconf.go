// Package registriesconf reads containers-registries.conf(5) version 2 files
// and answers, for an image reference, where to pull it from: the configured
// mirrors in order, then the registry itself unless it is blocked. This is
// how an enclave mirrors from an enterprise registry instead of the internet.
package registriesconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/ocm-mirror/ocm/lib/capread"
)

// Config is the merged configuration.
type Config struct {
	Registries                  []Registry `toml:"registry"`
	UnqualifiedSearchRegistries []string   `toml:"unqualified-search-registries"`
	ShortNameMode               string     `toml:"short-name-mode"`
	// Aliases and CredentialHelpers are read (distributions ship them) but
	// not used: ocm resolves only fully qualified references.
	Aliases           map[string]string `toml:"aliases"`
	CredentialHelpers []string          `toml:"credential-helpers"`
	Files             []string          `toml:"-"` // files read, in order
}

// Registry is a [[registry]] table.
type Registry struct {
	Prefix   string   `toml:"prefix"`
	Location string   `toml:"location"`
	Insecure bool     `toml:"insecure"`
	Blocked  bool     `toml:"blocked"`
	Mirrors  []Mirror `toml:"mirror"`
	// MirrorByDigestOnly is the older spelling of pull-from-mirror = "digest-only".
	MirrorByDigestOnly bool `toml:"mirror-by-digest-only"`
}

// Mirror is a [[registry.mirror]] table.
type Mirror struct {
	Location       string `toml:"location"`
	Insecure       bool   `toml:"insecure"`
	PullFromMirror string `toml:"pull-from-mirror"` // all (default), digest-only, tag-only
}

// Endpoint is one place to pull a reference from.
type Endpoint struct {
	Reference string // the reference rewritten for this endpoint
	Insecure  bool
	Mirror    bool // false for the original registry
}

// DefaultPaths is the search order when no file is given.
func DefaultPaths() []string {
	var out []string
	if h, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(h, ".config", "containers", "registries.conf"))
	}
	return append(out, "/etc/containers/registries.conf")
}

// Load reads path and the drop-ins in path's registries.conf.d directory
// (sorted by name; later files replace a [[registry]] with the same prefix).
// With path "", the first of DefaultPaths that exists is read, or none.
func Load(path string) (*Config, error) {
	explicit := path != ""
	if !explicit {
		for _, p := range DefaultPaths() {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return &Config{}, nil
		}
	}
	c := &Config{}
	if err := c.merge(path); err != nil {
		if explicit || !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	dropins, _ := filepath.Glob(filepath.Join(strings.TrimSuffix(path, ".conf")+".conf.d", "*.conf"))
	sort.Strings(dropins)
	for _, d := range dropins {
		if err := c.merge(d); err != nil {
			return nil, err
		}
	}
	return c, c.validate()
}

func (c *Config) merge(path string) error {
	b, err := capread.File(path, capread.Config)
	if err != nil {
		return fmt.Errorf("registries.conf %s: %w", path, err)
	}
	var f Config
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s:%d: malformed TOML: %s; fix: see containers-registries.conf(5)", path, pe.Position.Line, pe.Message)
		}
		return fmt.Errorf("%s: %v; fix: see containers-registries.conf(5)", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return fmt.Errorf("%s: unknown key %q; fix: see containers-registries.conf(5) (version 2 format: [[registry]] tables)", path, und[0].String())
	}
	c.Files = append(c.Files, path)
	for _, r := range f.Registries {
		key := r.prefix()
		replaced := false
		for i := range c.Registries {
			if c.Registries[i].prefix() == key {
				c.Registries[i], replaced = r, true
			}
		}
		if !replaced {
			c.Registries = append(c.Registries, r)
		}
	}
	if f.UnqualifiedSearchRegistries != nil {
		c.UnqualifiedSearchRegistries = f.UnqualifiedSearchRegistries
	}
	if f.ShortNameMode != "" {
		c.ShortNameMode = f.ShortNameMode
	}
	return nil
}

func (r Registry) prefix() string {
	if r.Prefix != "" {
		return strings.TrimPrefix(r.Prefix, "*.")
	}
	return r.Location
}

func (c *Config) validate() error {
	for i, r := range c.Registries {
		if r.Prefix == "" && r.Location == "" {
			return fmt.Errorf("registries.conf: [[registry]] #%d has neither prefix nor location", i+1)
		}
		for j, m := range r.Mirrors {
			if m.Location == "" {
				return fmt.Errorf("registries.conf: registry %q mirror #%d has no location", r.prefix(), j+1)
			}
			switch m.PullFromMirror {
			case "", "all", "digest-only", "tag-only":
			default:
				return fmt.Errorf("registries.conf: registry %q mirror %q: pull-from-mirror %q must be all, digest-only or tag-only", r.prefix(), m.Location, m.PullFromMirror)
			}
		}
	}
	return nil
}

// matches reports whether ref (host/path[:tag][@digest]) falls under prefix.
func matches(ref, prefix string) bool {
	if !strings.HasPrefix(ref, prefix) {
		return false
	}
	if len(ref) == len(prefix) {
		return true
	}
	switch ref[len(prefix)] {
	case '/', ':', '@':
		return true
	}
	return false
}

// Find returns the [[registry]] whose prefix matches ref longest, or nil.
func (c *Config) Find(ref string) *Registry {
	var best *Registry
	for i := range c.Registries {
		r := &c.Registries[i]
		if matches(ref, r.prefix()) && (best == nil || len(r.prefix()) > len(best.prefix())) {
			best = r
		}
	}
	return best
}

// Endpoints lists where to pull ref from, in order. byDigest says the pull
// names a digest (mirrors marked digest-only are used only then; tag-only
// ones only otherwise). An error means the registry is blocked and no mirror
// applies.
func (c *Config) Endpoints(ref string, byDigest bool) ([]Endpoint, error) {
	r := c.Find(ref)
	if r == nil {
		return []Endpoint{{Reference: ref}}, nil
	}
	rest := ref[len(r.prefix()):]
	var out []Endpoint
	for _, m := range r.Mirrors {
		mode := m.PullFromMirror
		if mode == "" && r.MirrorByDigestOnly {
			mode = "digest-only"
		}
		if (mode == "digest-only" && !byDigest) || (mode == "tag-only" && byDigest) {
			continue
		}
		out = append(out, Endpoint{Reference: m.Location + rest, Insecure: m.Insecure, Mirror: true})
	}
	if !r.Blocked {
		loc := r.Location
		if loc == "" {
			loc = r.prefix()
		}
		out = append(out, Endpoint{Reference: loc + rest, Insecure: r.Insecure})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is blocked by registries.conf (%s) and no mirror serves it; fix: add a [[registry.mirror]] or unblock it", ref, strings.Join(c.Files, ", "))
	}
	return out, nil
}
