package registriesconf

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The documentation's enclave example: registry.redhat.io served from the
// enterprise registry.
const enclave = `
unqualified-search-registries = ["registry.redhat.io"]

[[registry]]
location = "registry.redhat.io"
insecure = false
blocked = false

[[registry.mirror]]
location = "enterprise-registry.in"
insecure = false
pull-from-mirror = "all"

[[registry]]
prefix = "quay.io/openshift-release-dev"
location = "quay.io/openshift-release-dev"

[[registry.mirror]]
location = "first.example.com/ocp"
pull-from-mirror = "digest-only"

[[registry.mirror]]
location = "second.example.com:5000/ocp"
insecure = true

[[registry]]
location = "docker.io"
blocked = true

[[registry]]
location = "ghcr.io"
blocked = true

[[registry.mirror]]
location = "ghcr-mirror.example.com"
`

func refsOf(eps []Endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.Reference)
	}
	return out
}

func TestEndpoints(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(write(t, dir, "registries.conf", enclave))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ref      string
		byDigest bool
		want     []string
		err      string
	}{
		{"registry.redhat.io/ubi9/ubi:latest", false, []string{"enterprise-registry.in/ubi9/ubi:latest", "registry.redhat.io/ubi9/ubi:latest"}, ""},
		{"quay.io/openshift-release-dev/ocp-release@sha256:aa", true, []string{"first.example.com/ocp/ocp-release@sha256:aa", "second.example.com:5000/ocp/ocp-release@sha256:aa", "quay.io/openshift-release-dev/ocp-release@sha256:aa"}, ""},
		{"quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", false, []string{"second.example.com:5000/ocp/ocp-release:4.15.3-x86_64", "quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64"}, ""},
		{"quay.io/other/app:1", false, []string{"quay.io/other/app:1"}, ""},
		{"quay.io/openshift-release-dev-fake/x:1", false, []string{"quay.io/openshift-release-dev-fake/x:1"}, ""},
		{"ghcr.io/a/b:1", false, []string{"ghcr-mirror.example.com/a/b:1"}, ""},
		{"docker.io/library/alpine:3", false, nil, "blocked by registries.conf"},
	}
	for _, c2 := range cases {
		eps, err := c.Endpoints(c2.ref, c2.byDigest)
		if c2.err != "" {
			if err == nil || !strings.Contains(err.Error(), c2.err) {
				t.Errorf("%s: err = %v", c2.ref, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := refsOf(eps); !reflect.DeepEqual(got, c2.want) {
			t.Errorf("%s:\n got %v\nwant %v", c2.ref, got, c2.want)
		}
	}
	eps, _ := c.Endpoints("quay.io/openshift-release-dev/x:1", false)
	if !eps[0].Insecure || !eps[0].Mirror || eps[1].Mirror {
		t.Errorf("flags: %+v", eps)
	}
}

func TestDropInsAndErrors(t *testing.T) {
	dir := t.TempDir()
	main := write(t, dir, "registries.conf", enclave)
	write(t, dir, "registries.conf.d/50-override.conf", "[[registry]]\nlocation = \"registry.redhat.io\"\n[[registry.mirror]]\nlocation = \"other.example.com\"\n")
	c, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	eps, _ := c.Endpoints("registry.redhat.io/a:1", false)
	if eps[0].Reference != "other.example.com/a:1" {
		t.Errorf("drop-in did not replace the registry: %v", refsOf(eps))
	}
	bad := []struct{ body, want string }{
		{"[[registry]]\nlocation = = 1\n", "registries.conf:2: malformed TOML"},
		{"[[registry]]\nlocaton = \"x\"\n", `unknown key "registry.locaton"`},
		{"[[registry]]\nlocation = \"x\"\n[[registry.mirror]]\nlocation = \"y\"\npull-from-mirror = \"never\"\n", "must be all, digest-only or tag-only"},
		{"[[registry]]\ninsecure = true\n", "neither prefix nor location"},
	}
	for i, b := range bad {
		d := t.TempDir()
		_, err := Load(write(t, d, "registries.conf", b.body))
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("case %d: err = %v, want %q", i, err, b.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.conf")); err == nil {
		t.Error("missing explicit file accepted")
	}
}

func TestDistributionFilesParse(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "registries.conf", "# comments only\nunqualified-search-registries = []\nshort-name-mode = \"enforcing\"\n")
	write(t, dir, "registries.conf.d/shortnames.conf", "[aliases]\n  \"almalinux\" = \"docker.io/library/almalinux\"\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if eps, _ := c.Endpoints("quay.io/a/b:1", false); len(eps) != 1 || eps[0].Mirror {
		t.Fatalf("%+v", eps)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(enclave)
	f.Add("[[registry]]\nprefix = \"a.io/x\"\nlocation = \"b.io/y\"\nblocked = true\n")
	f.Add("[[registry]]\nprefix = \"*.a.io\"\nblocked = true\n[[registry.mirror]]\nlocation = \"m.io/z\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		dir := t.TempDir()
		p := filepath.Join(dir, "registries.conf")
		os.WriteFile(p, []byte(s), 0o644)
		c, err := Load(p)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(err.Error(), "malformed TOML") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		c.Endpoints("quay.io/a/b:1", false)
		c.Endpoints("a.io/x/y@sha256:00", true)
		c.Endpoints("x.a.io:5000/y:1", false)
	})
}

// N3: a "*.domain" prefix matches every subdomain at any depth, never the
// domain itself nor a name that merely ends in the same letters
// (containers-registries.conf(5)). It used to match only the domain.
func TestN3WildcardPrefixMatchesSubdomains(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(write(t, dir, "registries.conf", `
[[registry]]
prefix = "*.blocked.example"
blocked = true

[[registry]]
prefix = "*.mirrored.example"
[[registry.mirror]]
location = "inside.example/m"

[[registry]]
prefix = "blocked.example"
location = "blocked.example"
[[registry.mirror]]
location = "exact-mirror.example"

[[registry]]
prefix = "*.open.blocked.example"
[[registry.mirror]]
location = "open-mirror.example"
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ref     string
		want    []string // nil: blocked
		blocked bool
	}{
		{"a.blocked.example/ns/app:1", nil, true},
		{"x.y.blocked.example/ns/app:1", nil, true},
		{"a.blocked.example:5000/ns/app@sha256:aa", nil, true},
		{"a.blocked.example/deep/ns/path/app:1", nil, true},
		// The most specific wildcard wins, whatever the order of the file.
		{"x.open.blocked.example/ns/app:1", []string{"open-mirror.example/ns/app:1", "x.open.blocked.example/ns/app:1"}, false},
		// The domain itself is not a subdomain: its own entry applies.
		{"blocked.example/ns/app:1", []string{"exact-mirror.example/ns/app:1", "blocked.example/ns/app:1"}, false},
		{"notblocked.example/ns/app:1", []string{"notblocked.example/ns/app:1"}, false},
		{"a.blocked.example.evil.test/ns/app:1", []string{"a.blocked.example.evil.test/ns/app:1"}, false},
		// The path of a repository never counts as a host.
		{"quay.io/a.blocked.example/app:1", []string{"quay.io/a.blocked.example/app:1"}, false},
		// A wildcard's mirror takes the path after the matched host; the
		// host itself is the registry when the entry has no location.
		{"r.mirrored.example/ns/app:1", []string{"inside.example/m/ns/app:1", "r.mirrored.example/ns/app:1"}, false},
		{"s.r.mirrored.example:443/ns/app@sha256:bb", []string{"inside.example/m/ns/app@sha256:bb", "s.r.mirrored.example:443/ns/app@sha256:bb"}, false},
	}
	for _, tc := range cases {
		eps, err := c.Endpoints(tc.ref, strings.Contains(tc.ref, "@"))
		if tc.blocked {
			if err == nil || !strings.Contains(err.Error(), "blocked by registries.conf") {
				t.Errorf("%s: not blocked: %v, %v", tc.ref, refsOf(eps), err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.ref, err)
			continue
		}
		if got := refsOf(eps); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.ref, got, tc.want)
		}
	}
	// A wildcard may name a host only.
	_, err = Load(write(t, t.TempDir(), "registries.conf", "[[registry]]\nprefix = \"*.example.com/ns\"\nblocked = true\n"))
	if err == nil || !strings.Contains(err.Error(), "*.example.com/ns") {
		t.Errorf("wildcard with a path accepted: %v", err)
	}
}
