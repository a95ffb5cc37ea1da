package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ocm-mirror/ocm/lib/cache"
)

// Aliases maps oc-mirror v2's spellings of shared flags to ocm's: scripts
// written for oc-mirror 4.18-4.20 run unchanged. This is the only place
// they are defined.
var Aliases = map[string]string{
	"log-level":       "loglevel",
	"parallel-images": "image-workers",
	"parallel-layers": "blob-workers",
}

// normalize applies Aliases to flags the command has (an alias of a flag it
// lacks stays unknown, so the error names what was typed).
func normalize(fs *pflag.FlagSet) {
	have := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { have[f.Name] = true })
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := Aliases[name]; ok && have[to] {
			return pflag.NormalizedName(to)
		}
		return pflag.NormalizedName(name)
	})
}

// registerRetryAliases adds oc-mirror's --retry-times (retries after the
// first try) and --retry-delay (first wait between tries).
func (c *Common) registerRetryAliases(fs *pflag.FlagSet) {
	fs.IntVar(&c.retryTimes, "retry-times", -1, "oc-mirror's spelling: retries after the first try (--retries is tries in all: --retry-times N is --retries N+1)")
	fs.DurationVar(&c.RetryDelay, "retry-delay", 0, "first wait between tries, doubled each time (default 250ms)")
}

// finishCompat applies what oc-mirror users set outside ocm's own flags.
func (c *Common) finishCompat(fs *pflag.FlagSet) error {
	if f := fs.Lookup("retry-times"); f != nil && f.Changed {
		if fs.Lookup("retries").Changed {
			return errors.New("--retries and --retry-times both given; fix: keep one")
		}
		if c.retryTimes < 0 {
			return errors.New("--retry-times must be 0 or more")
		}
		c.Retries = c.retryTimes + 1
	}
	for _, d := range []struct{ flag, dir string }{{"--src-cert-dir", c.SrcCertDir}, {"--dest-cert-dir", c.DstCertDir}} {
		if d.dir == "" {
			continue
		}
		if st, err := os.Stat(d.dir); err != nil || !st.IsDir() {
			return fmt.Errorf("%s %q: not a readable folder; fix: give the folder holding the registry's *.crt (and *.cert/*.key) files", d.flag, d.dir)
		}
	}
	if c.RetryDelay < 0 {
		return errors.New("--retry-delay must not be negative")
	}
	// containers-registries.conf(5): the variable names the file to use
	// instead of the default ones.
	if f := fs.Lookup("registries-conf"); f != nil && !f.Changed {
		c.RegConf = os.Getenv("CONTAINERS_REGISTRIES_CONF")
	}
	return nil
}

// LocalPath reads a local path given as PATH or file://PATH (oc-mirror's
// spelling of --workspace and archive locations).
func LocalPath(flag, s string) (string, error) {
	if rest, ok := strings.CutPrefix(s, "file://"); ok {
		if rest == "" {
			return "", fmt.Errorf("%s %q: no path after file://; fix: file:///abs/path or a plain path", flag, s)
		}
		return rest, nil
	}
	if i := strings.Index(s, "://"); i > 0 && !strings.ContainsRune(s[:i], '/') {
		return "", fmt.Errorf("%s %q: only local paths are taken (PATH or file://PATH), not %s", flag, s, s[:i+3])
	}
	return s, nil
}

// CacheEnv is oc-mirror's variable for the cache location.
const CacheEnv = "OC_MIRROR_CACHE"

// Cache is the cache location every stage shares: --cache DIR (the cache
// itself), or --cache-dir / $OC_MIRROR_CACHE (a directory the cache lives
// in, as DIR/ocm, the way oc-mirror keeps its own under DIR), else
// $XDG_CACHE_HOME/ocm, else ~/.cache/ocm. One definition, so every stage
// finds the same cache without flags.
type Cache struct {
	dir, parent string
}

// CacheVar adds --cache and --cache-dir to fs; what describes the use.
func CacheVar(fs *pflag.FlagSet, what string) *Cache {
	c := &Cache{}
	c.Register(fs, what)
	return c
}

// Register adds --cache and --cache-dir to fs; what describes the use.
func (c *Cache) Register(fs *pflag.FlagSet, what string) {
	fs.StringVar(&c.dir, "cache", "", what+" (default: $XDG_CACHE_HOME/ocm, else ~/.cache/ocm)")
	fs.StringVar(&c.parent, "cache-dir", "", "oc-mirror's spelling: the cache is DIR/ocm (also $"+CacheEnv+")")
}

// Dir resolves the cache directory.
func (c *Cache) Dir() (string, error) {
	env := os.Getenv(CacheEnv)
	switch {
	case c.dir != "" && c.parent != "":
		return "", errors.New("--cache and --cache-dir both given; fix: keep one")
	case c.dir != "":
		return LocalPath("--cache", c.dir)
	case c.parent != "" && env != "":
		// oc-mirror refuses the same.
		return "", fmt.Errorf("both $%s and --cache-dir are set; fix: use one", CacheEnv)
	case c.parent != "":
		p, err := LocalPath("--cache-dir", c.parent)
		return filepath.Join(p, "ocm"), err
	case env != "":
		p, err := LocalPath("$"+CacheEnv, env)
		return filepath.Join(p, "ocm"), err
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "ocm"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache location: %v; fix: pass --cache DIR", err)
	}
	return filepath.Join(home, ".cache", "ocm"), nil
}

// retryPolicyDelay is the first wait when --retry-delay is given.
func (c *Common) retryPolicyDelay() (time.Duration, bool) { return c.RetryDelay, c.RetryDelay > 0 }

// localPathValue is a string flag read by LocalPath as it is set, so a bad
// value is a flag error (exit 2) naming the flag.
type localPathValue struct {
	p    *string
	flag string
}

func (v localPathValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v localPathValue) Set(s string) error {
	p, err := LocalPath(v.flag, s)
	if err != nil {
		return err
	}
	*v.p = p
	return nil
}

func (v localPathValue) Type() string { return "string" }

// LocalPathVar defines a path flag that also takes file://PATH.
func LocalPathVar(fs *pflag.FlagSet, p *string, name, value, usage string) {
	*p = value
	fs.Var(localPathValue{p, "--" + name}, name, usage)
}

// Open resolves the cache directory and opens the cache (created if
// missing); its errors are bad input (exit 2).
func (c *Cache) Open() (*cache.Cache, error) {
	dir, err := c.Dir()
	if err != nil {
		return nil, Usage(err)
	}
	cch, err := cache.Open(dir)
	return cch, Usage(err)
}

// LocalPaths reads each of args as LocalPath does.
func LocalPaths(what string, args []string) ([]string, error) {
	var paths []string
	for _, a := range args {
		p, err := LocalPath(what, a)
		if err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// OpenCache opens the cache at dir, else ("") the default one.
func OpenCache(dir string) (*cache.Cache, error) {
	if dir == "" {
		var err error
		if dir, err = (&Cache{}).Dir(); err != nil {
			return nil, err
		}
	}
	return cache.Open(dir)
}
