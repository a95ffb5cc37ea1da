package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/pipeline"
)

// TestOcMirrorFlagSpellings: oc-mirror's flag names set ocm's values.
func TestOcMirrorFlagSpellings(t *testing.T) {
	cases := []struct {
		args  []string
		check func(c *Common) bool
		code  int
	}{
		{[]string{"--log-level", "debug"}, func(c *Common) bool { return c.LogLevel == "debug" }, -1},
		{[]string{"--loglevel=error"}, func(c *Common) bool { return c.LogLevel == "error" }, -1},
		{[]string{"--parallel-images", "3", "--parallel-layers=7"}, func(c *Common) bool { return c.ImageWorkers == 3 && c.BlobWorkers == 7 }, -1},
		{[]string{"--retry-times", "2"}, func(c *Common) bool { return c.Retries == 3 }, -1},
		{[]string{"--retry-times", "0"}, func(c *Common) bool { return c.Retries == 1 }, -1},
		{[]string{"--retry-delay", "2s"}, func(c *Common) bool { return c.retry().Base == 2*time.Second && c.retry().Max >= 2*time.Second }, -1},
		{[]string{"--retries", "2", "--retry-times", "2"}, nil, pipeline.ExitUsage},
		{[]string{"--retry-times", "-3"}, nil, pipeline.ExitUsage},
		{[]string{"--log-level", "loud"}, nil, pipeline.ExitUsage},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c := Common{Name: "test"}
			fs := NewFlagSet("test", "usage")
			c.Register(fs, FlagSource|FlagWorkers)
			code := c.Parse(fs, tc.args)
			if code != tc.code {
				t.Fatalf("exit %d, want %d", code, tc.code)
			}
			if tc.check != nil && !tc.check(&c) {
				t.Fatalf("not applied: loglevel %s, workers %d/%d, retries %d", c.LogLevel, c.ImageWorkers, c.BlobWorkers, c.Retries)
			}
		})
	}
}

// TestAliasOfMissingFlagStaysUnknown: --parallel-images on a command
// without workers is an error naming what was typed.
func TestAliasOfMissingFlagStaysUnknown(t *testing.T) {
	c := Common{Name: "test"}
	fs := NewFlagSet("test", "usage")
	c.Register(fs, FlagSource)
	if code := c.Parse(fs, []string{"--parallel-images", "2"}); code != pipeline.ExitUsage {
		t.Fatalf("exit %d, want 2", code)
	}
}

func TestRegistriesConfEnv(t *testing.T) {
	t.Setenv("CONTAINERS_REGISTRIES_CONF", "/etc/x/registries.conf")
	for _, tc := range []struct {
		args []string
		want string
	}{{nil, "/etc/x/registries.conf"}, {[]string{"--registries-conf", "/mine.conf"}, "/mine.conf"}} {
		c := Common{Name: "test"}
		fs := NewFlagSet("test", "usage")
		c.Register(fs, FlagSource)
		if code := c.Parse(fs, tc.args); code != -1 {
			t.Fatalf("exit %d", code)
		}
		if c.RegConf != tc.want {
			t.Fatalf("%v: registries.conf %q, want %q", tc.args, c.RegConf, tc.want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"file:///abs/ws": "/abs/ws",
		"file://rel/ws":  "rel/ws",
		"/abs/ws":        "/abs/ws",
		"working-dir":    "working-dir",
		"docker://h/p":   "error",
		"file://":        "error",
	} {
		got, err := LocalPath("--workspace", in)
		if err != nil {
			got = "error"
			if !strings.Contains(err.Error(), "--workspace") {
				t.Errorf("%s: error does not name the flag: %v", in, err)
			}
		}
		if got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
	var d DryRun
	fs := NewFlagSet("test", "usage")
	d.Register(fs)
	if err := fs.Parse([]string{"--workspace", "file:///tmp/ws"}); err != nil || d.Workspace != "/tmp/ws" {
		t.Fatalf("--workspace file:///tmp/ws: %q %v", d.Workspace, err)
	}
}

func TestCacheDir(t *testing.T) {
	home := t.TempDir()
	cases := []struct {
		name                string
		args                []string
		xdg, ocMirror, want string
	}{
		{"default home", nil, "", "", filepath.Join(home, ".cache", "ocm")},
		{"default xdg", nil, "/xdg", "", "/xdg/ocm"},
		{"relative xdg ignored (XDG spec)", nil, "rel", "", filepath.Join(home, ".cache", "ocm")},
		{"--cache", []string{"--cache", "c"}, "/xdg", "/env", "c"},
		{"--cache file://", []string{"--cache", "file:///abs/c"}, "", "", "/abs/c"},
		{"--cache-dir", []string{"--cache-dir", "/d"}, "/xdg", "", "/d/ocm"},
		{"OC_MIRROR_CACHE", nil, "/xdg", "/env", "/env/ocm"},
		{"both --cache and --cache-dir", []string{"--cache", "c", "--cache-dir", "/d"}, "", "", "error"},
		{"both --cache-dir and OC_MIRROR_CACHE", []string{"--cache-dir", "/d"}, "", "/env", "error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("XDG_CACHE_HOME", tc.xdg)
			t.Setenv(CacheEnv, tc.ocMirror)
			var c Cache
			fs := NewFlagSet("test", "usage")
			c.Register(fs, "cache")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := c.Dir()
			if err != nil {
				got = "error"
			}
			if got != tc.want {
				t.Fatalf("%q (%v), want %q", got, err, tc.want)
			}
		})
	}
}
