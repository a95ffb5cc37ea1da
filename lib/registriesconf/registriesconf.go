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

// prefix is the entry's key: drop-ins replace the entry with the same one.
// A wildcard keeps its "*.", so "*.example.com" and "example.com" are two
// entries.
func (r Registry) prefix() string {
	if r.Prefix != "" {
		return r.Prefix
	}
	return r.Location
}

// wildcard reports whether the entry is a "*.domain" prefix.
func (r Registry) wildcard() bool { return strings.HasPrefix(r.Prefix, "*.") }

func (c *Config) validate() error {
	for i, r := range c.Registries {
		if r.Prefix == "" && r.Location == "" {
			return fmt.Errorf("registries.conf: [[registry]] #%d has neither prefix nor location", i+1)
		}
		if r.wildcard() && (strings.ContainsAny(r.Prefix, "/:@") || len(r.Prefix) < 3 || strings.Contains(r.Prefix[2:], "*")) {
			return fmt.Errorf("registries.conf: prefix %q: a wildcard names subdomains of a host only; fix: write it as *.example.com, without port or path", r.Prefix)
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

// match returns how much of ref (host[:port]/path[:tag][@digest]) the
// entry's prefix covers, or -1. A "*.domain" prefix covers the host
// component of a ref whose host name is a subdomain of domain at any depth
// (not domain itself), as containers-registries.conf(5) has it; any other
// prefix covers itself when ref continues with '/', ':', '@' or ends.
func (r Registry) match(ref string) int {
	if r.wildcard() {
		hostport, _, _ := strings.Cut(ref, "/")
		host, _, _ := strings.Cut(hostport, ":")
		host, _, _ = strings.Cut(host, "@")
		suffix := r.Prefix[1:] // ".domain"
		if len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
			return len(hostport)
		}
		return -1
	}
	prefix := r.prefix()
	if !strings.HasPrefix(ref, prefix) {
		return -1
	}
	if len(ref) == len(prefix) {
		return len(prefix)
	}
	switch ref[len(prefix)] {
	case '/', ':', '@':
		return len(prefix)
	}
	return -1
}

// Find returns the [[registry]] whose prefix covers the most of ref, or nil,
// and how much it covers. On a tie the more specific entry wins: a named
// host beats a wildcard, and "*.a.example.com" beats "*.example.com".
func (c *Config) Find(ref string) (*Registry, int) {
	var best *Registry
	bestLen := -1
	for i := range c.Registries {
		r := &c.Registries[i]
		n := r.match(ref)
		if n < 0 {
			continue
		}
		if n > bestLen || (n == bestLen && best.wildcard() && (!r.wildcard() || len(r.Prefix) > len(best.Prefix))) {
			best, bestLen = r, n
		}
	}
	return best, bestLen
}

// Endpoints lists where to pull ref from, in order. byDigest says the pull
// names a digest (mirrors marked digest-only are used only then; tag-only
// ones only otherwise). An error means the registry is blocked and no mirror
// applies.
func (c *Config) Endpoints(ref string, byDigest bool) ([]Endpoint, error) {
	r, n := c.Find(ref)
	if r == nil {
		return []Endpoint{{Reference: ref}}, nil
	}
	rest := ref[n:]
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
			loc = ref[:n] // a wildcard's registry is the host it matched
		}
		out = append(out, Endpoint{Reference: loc + rest, Insecure: r.Insecure})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is blocked by registries.conf (%s) and no mirror serves it; fix: add a [[registry.mirror]] or unblock it", ref, strings.Join(c.Files, ", "))
	}
	return out, nil
}
