package refs

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

const (
	hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dg  = "sha256:" + hex
)

func TestSplit(t *testing.T) {
	cases := []struct {
		in                         string
		registry, path, tag, digst string
		err                        string
	}{
		{in: "registry.redhat.io/ubi9/ubi:latest", registry: "registry.redhat.io", path: "ubi9/ubi", tag: "latest"},
		{in: "registry.redhat.io/ubi9/ubi", registry: "registry.redhat.io", path: "ubi9/ubi", tag: "latest"},
		{in: "quay.io/ns/app@" + dg, registry: "quay.io", path: "ns/app", digst: dg},
		{in: "quay.io/ns/app:v1@" + dg, registry: "quay.io", path: "ns/app", tag: "v1", digst: dg},
		{in: "docker://quay.io/ns/app:v1", registry: "quay.io", path: "ns/app", tag: "v1"},
		{in: "alpine", registry: "docker.io", path: "library/alpine", tag: "latest"},
		{in: "alpine:3", registry: "docker.io", path: "library/alpine", tag: "3"},
		{in: "alpine@" + dg, registry: "docker.io", path: "library/alpine", digst: dg},
		{in: "docker.io/alpine:3", registry: "docker.io", path: "library/alpine", tag: "3"},
		{in: "index.docker.io/library/alpine:3", registry: "docker.io", path: "library/alpine", tag: "3"},
		{in: "bitnami/redis:7", registry: "docker.io", path: "bitnami/redis", tag: "7"},
		{in: "localhost/app", registry: "localhost", path: "app", tag: "latest"},
		{in: "localhost:5000/app", registry: "localhost:5000", path: "app", tag: "latest"},
		{in: "localhost:5000/x:y", registry: "localhost:5000", path: "x", tag: "y"},
		{in: "127.0.0.1:5000/a/b/c/d:1.0", registry: "127.0.0.1:5000", path: "a/b/c/d", tag: "1.0"},
		{in: "[::1]:5000/a:b", registry: "[::1]:5000", path: "a", tag: "b"},
		{in: "reg.io:443/a/b:V_1.2-rc", registry: "reg.io:443", path: "a/b", tag: "V_1.2-rc"},
		{in: "reg.io/a__b/c-d/e--f/g.h:t", registry: "reg.io", path: "a__b/c-d/e--f/g.h", tag: "t"},

		{in: "", err: "bad image reference"},
		{in: " quay.io/a:b", err: "surrounded by spaces"},
		{in: "Quay.io/UPPER/app:1", err: "bad image reference"},
		{in: "quay.io/ns/app@sha256:short", err: "bad image reference"},
		{in: "quay.io/ns/app:", err: "bad image reference"},
		{in: "quay.io/ns/app:.v1", err: `tag ".v1"`},
		{in: "quay.io/ns/app:" + strings.Repeat("x", 129), err: "bad image reference"},
		{in: "quay.io/ns//app:1", err: `path component ""`},
		{in: "quay.io/-ns/app:1", err: `path component "-ns"`},
		{in: "quay.io/ns/app_:1", err: `path component "app_"`},
		{in: "https://quay.io/ns/app:1", err: "transport"},
		{in: "oci:///tmp/layout", err: `transport "oci://" is not supported`},
		{in: "quay.io/ns/app@" + dg + "@" + dg, err: "bad image reference"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			reg, path, tag, digest, err := Split(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if reg != c.registry || path != c.path || tag != c.tag || digest != c.digst {
				t.Errorf("got (%q, %q, %q, %q), want (%q, %q, %q, %q)", reg, path, tag, digest, c.registry, c.path, c.tag, c.digst)
			}
		})
	}
}

func TestDestination(t *testing.T) {
	cases := []struct{ in, path, tag, err string }{
		{"registry.redhat.io/ubi9/ubi:latest", "ubi9/ubi", "latest", ""},
		{"registry.redhat.io/ubi9/ubi", "ubi9/ubi", "latest", ""},
		{"quay.io/ns/app@" + dg, "ns/app", "sha256-" + hex, ""},
		{"quay.io/ns/app:v1@" + dg, "ns/app", "v1", ""},
		{"alpine:3", "library/alpine", "3", ""},
		{"docker.io/library/alpine:3.20", "library/alpine", "3.20", ""},
		{"127.0.0.1:5000/a/b/c/d:1.0", "a/b/c/d", "1.0", ""},
		{"localhost:5000/x:y", "x", "y", ""},
		{"quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", "openshift-release-dev/ocp-release", "4.15.3-x86_64", ""},
		{"Quay.io/UPPER/app:1", "", "", "bad image reference"},
		{"quay.io/ns/app@sha256:short", "", "", "bad image reference"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			d, err := Destination(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || d.Path != c.path || d.Tag != c.tag {
				t.Fatalf("got %+v %v, want %s:%s", d, err, c.path, c.tag)
			}
			if d.String() != c.path+":"+c.tag {
				t.Errorf("String = %s", d)
			}
			if _, err := name.NewTag("example.com/"+d.String(), name.StrictValidation); err != nil {
				t.Errorf("destination %s is not a valid reference: %v", d, err)
			}
			if p, tag, err := SplitDestination(d.String()); err != nil || p != d.Path || tag != d.Tag {
				t.Errorf("SplitDestination(%s) = %s %s %v", d, p, tag, err)
			}
		})
	}
}

var validTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

func TestDigestTag(t *testing.T) {
	sha512 := "sha512:" + strings.Repeat("ab", 64)
	cases := []struct{ digest, want string }{
		{dg, "sha256-" + hex},
		{"sha256:" + strings.ToUpper(hex), "sha256-" + strings.ToUpper(hex)},
		{sha512, ("sha512-" + strings.Repeat("ab", 64))[:127]},
		{"sha256+b64u:abc", "sha256_b64u-abc"},
	}
	for _, c := range cases {
		t.Run(c.digest, func(t *testing.T) {
			got := DigestTag(c.digest)
			if got != c.want {
				t.Errorf("DigestTag = %q, want %q", got, c.want)
			}
			if len(got) > 128 || !validTag.MatchString(got) {
				t.Errorf("%q is not a valid tag", got)
			}
			if got != DigestTag(c.digest) {
				t.Errorf("not deterministic")
			}
			if _, err := name.NewTag("example.com/a:"+got, name.StrictValidation); err != nil {
				t.Errorf("name rejects %q: %v", got, err)
			}
		})
	}
	if DigestTag(dg) == DigestTag("sha256:"+strings.Repeat("f", 64)) {
		t.Error("different digests share a tag")
	}
}

func TestTagOf(t *testing.T) {
	for in, want := range map[string]string{
		"a/b:c":                 "c",
		"a/b":                   "",
		"host:5000/a":           "",
		"host:5000/a:t":         "t",
		"a/b:v1@" + dg:          "v1",
		"a/b@" + dg:             "",
		"[::1]:5000/a":          "",
		"docker://quay.io/a:b1": "b1",
	} {
		if got := TagOf(in); got != want {
			t.Errorf("TagOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitDestination(t *testing.T) {
	for _, ok := range []string{"a/b:c", "ubi9/ubi:latest", "x:sha256-" + hex, "a/b:_x"} {
		if _, _, err := SplitDestination(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "a/b:", ":x", "host:5000/a", "A/B:c", "a//b:c", "a/b:.c", "-a/b:c"} {
		if _, _, err := SplitDestination(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseMirror(t *testing.T) {
	cases := []struct {
		in             string
		registry, pref string
		err            string
	}{
		{in: "docker://mirror.example.com", registry: "mirror.example.com"},
		{in: "docker://mirror.example.com/", registry: "mirror.example.com"},
		{in: "docker://mirror.example.com:5000", registry: "mirror.example.com:5000"},
		{in: "docker://mirror.example.com:5000/ocp/4.15", registry: "mirror.example.com:5000", pref: "ocp/4.15"},
		{in: "docker://localhost:5000/a/b/c/", registry: "localhost:5000", pref: "a/b/c"},
		{in: "docker://127.0.0.1:55000/x", registry: "127.0.0.1:55000", pref: "x"},
		{in: "docker://[::1]:5000/x", registry: "[::1]:5000", pref: "x"},
		{in: "docker://[fd00::1]", registry: "[fd00::1]"},
		{in: "docker://Mirror.Example.COM/x", registry: "Mirror.Example.COM", pref: "x"},
		{in: "docker://my-registry.lan/ns__x/a-b", registry: "my-registry.lan", pref: "ns__x/a-b"},
		{in: "docker://localhost/x", registry: "localhost", pref: "x"},

		{in: "mirror.example.com", err: `target "mirror.example.com": missing docker:// scheme; fix: write docker://host[:port][/path]`},
		{in: "oci:///tmp/x", err: `scheme "oci://" is not supported`},
		{in: "https://mirror.example.com", err: `scheme "https://" is not supported`},
		{in: "DOCKER://m", err: `scheme "DOCKER://" is not supported`},
		{in: "docker://myregistry/x", err: `host "myregistry" has no '.' or port`},
		{in: "docker://", err: "no registry host"},
		{in: "docker:///ns", err: "no registry host"},
		{in: "docker://m.io/Upper", err: `path component "Upper" must be lowercase`},
		{in: "docker://m.io/a//b", err: "empty path component"},
		{in: "docker://m.io/-a", err: `path component "-a"`},
		{in: "docker://m:port/x", err: `port "port" is not a number`},
		{in: "docker://m:0", err: "is not a number from 1 to 65535"},
		{in: "docker://m:70000", err: "is not a number from 1 to 65535"},
		{in: "docker://m:", err: "empty port"},
		{in: "docker://m:5000:1", err: "bad registry host"},
		{in: "docker://user@m", err: "bad registry host"},
		{in: "docker://-m.io", err: `"-m" is not a valid host name label`},
		{in: "docker://m..io", err: "bad registry host"},
		{in: "docker://m_x.io", err: "bad registry host"},
		{in: "docker://[::1", err: "unclosed"},
		{in: "docker://[1.2.3.4]", err: "not an IPv6 address"},
		{in: "docker://m.io/ns/app:v1", err: "not an image"},
		{in: "docker://m.io/ns/app@" + dg, err: "not an image"},
		{in: "docker://m.io/a b", err: `path component "a b"`},
		{in: "docker://m?x=1", err: "bad registry host"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			m, err := ParseMirror(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("err = %v, want %q", err, c.err)
				} else if !strings.Contains(err.Error(), "; fix: write docker://") {
					t.Errorf("err %v does not say how to fix it", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Registry != c.registry || m.Prefix != c.pref {
				t.Errorf("got %+v, want %s %s", m, c.registry, c.pref)
			}
			if again, err := ParseMirror(m.String()); err != nil || again != m {
				t.Errorf("String %q does not round-trip: %+v %v", m.String(), again, err)
			}
		})
	}
}

func TestRepo(t *testing.T) {
	cases := []struct {
		prefix, path string
		nested       int
		want         string
	}{
		{"", "ubi9/ubi", 0, "ubi9/ubi"},
		{"ocp", "ubi9/ubi", 0, "ocp/ubi9/ubi"},
		{"mirror", "a/b/c/d", 0, "mirror/a/b/c/d"},
		{"mirror", "a/b/c/d", -1, "mirror/a/b/c/d"},
		{"mirror", "a/b/c/d", 1, "mirror-a-b-c-d"},
		{"mirror", "a/b/c/d", 2, "mirror/a-b-c-d"},
		{"mirror", "a/b/c/d", 3, "mirror/a/b-c-d"},
		{"mirror", "a/b/c/d", 4, "mirror/a/b/c-d"},
		{"mirror", "a/b/c/d", 5, "mirror/a/b/c/d"},
		{"mirror", "a/b/c/d", 6, "mirror/a/b/c/d"},
		{"", "a/b/c/d", 1, "a-b-c-d"},
		{"", "a/b/c/d", 2, "a/b-c-d"},
		{"", "a/b/c/d", 3, "a/b/c-d"},
		{"", "a/b/c/d", 4, "a/b/c/d"},
		{"p/q", "a/b", 1, "p-q-a-b"},
		{"p/q", "a/b", 2, "p/q-a-b"},
		{"p/q", "a/b", 3, "p/q/a-b"},
		{"p/q", "a/b", 4, "p/q/a/b"},
		{"", "app", 1, "app"},
		{"", "library/alpine", 1, "library-alpine"},
		{"mirror", "/a/b/", 0, "mirror/a/b"},
	}
	for _, c := range cases {
		m := Mirror{Registry: "m:5000", Prefix: c.prefix}
		got := m.Repo(c.path, c.nested)
		if got != c.want {
			t.Errorf("prefix %q path %q max %d: %s, want %s", c.prefix, c.path, c.nested, got, c.want)
		}
		if n := strings.Count(got, "/") + 1; c.nested > 0 && n > c.nested {
			t.Errorf("%s has %d components, max %d", got, n, c.nested)
		}
		if err := checkPath(got); err != nil {
			t.Errorf("%s: %v", got, err)
		}
	}
}

func TestReference(t *testing.T) {
	cases := []struct {
		target, source string
		nested         int
		want           string
	}{
		{"docker://127.0.0.1:5000/p", "quay.io/a/b:v1", 0, "127.0.0.1:5000/p/a/b:v1"},
		{"docker://mirror.example.com", "registry.redhat.io/ubi9/ubi:latest", 0, "mirror.example.com/ubi9/ubi:latest"},
		{"docker://mirror.example.com/mirror", "quay.io/a/b/c/d:1", 3, "mirror.example.com/mirror/a/b-c-d:1"},
		{"docker://m:5000/ocp", "quay.io/ns/app@" + dg, 2, "m:5000/ocp/ns-app:sha256-" + hex},
		{"docker://m.io", "alpine:3", 1, "m.io/library-alpine:3"},
	}
	for _, c := range cases {
		m, err := ParseMirror(c.target)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Destination(c.source)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Reference(d.Path, d.Tag, c.nested)
		if got != c.want {
			t.Errorf("%s <- %s (max %d) = %s, want %s", c.target, c.source, c.nested, got, c.want)
		}
		if _, err := name.NewTag(got, name.StrictValidation); err != nil {
			t.Errorf("%s: %v", got, err)
		}
	}
}

func TestMirrorHolds(t *testing.T) {
	cases := []struct {
		prefix, repo string
		maxNested    int
		want         bool
	}{
		{"", "a", 0, true},
		{"", "a/b/c", 2, true},
		{"m", "m/a", 0, true},
		{"m", "m/a/b/c", 0, true},
		{"m", "m", 0, false},
		{"m", "other/a", 0, false},
		{"m", "mx/a", 0, false},
		{"m", "m/../victim", 0, false},
		{"m", "m/./a", 0, false},
		{"m", "m//a", 0, false},
		{"m", "/m/a", 0, false},
		{"m", "M/a", 0, false},
		{"m/n", "m/n/a", 0, true},
		{"m/n", "m/a", 0, false},
		{"m/n", "m/n/a-b", 3, true},
		{"m/n", "m/n-a-b", 2, true},
		{"m/n", "m/nx-a", 2, false},
		{"m/n", "m/n", 2, false},
		{"m/n", "m/n-a/b", 2, false},
		{"m/n", "m-n-a", 1, true},
		{"m/n", "m-a", 1, false},
		{"m", "m-a-b", 1, true},
		{"m", "m-", 1, false},
		{"m", "mx", 1, false},
		{"m", "m/a", 1, false},
	}
	for _, c := range cases {
		m := Mirror{Registry: "reg.io:5000", Prefix: c.prefix}
		if got := m.Holds(c.repo, c.maxNested); got != c.want {
			t.Errorf("prefix %q maxNested %d: Holds(%q) = %v, want %v", c.prefix, c.maxNested, c.repo, got, c.want)
		}
	}
	// Whatever Repo produces, Holds accepts.
	for _, prefix := range []string{"", "m", "m/n", "m/n/o"} {
		for n := 0; n <= 5; n++ {
			m := Mirror{Registry: "reg.io", Prefix: prefix}
			if r := m.Repo("a/b/c", n); !m.Holds(r, n) {
				t.Errorf("prefix %q maxNested %d: Repo gave %q, which Holds refuses", prefix, n, r)
			}
		}
	}
}

// TestPlace: a record's destination becomes the mirror's repository and tag
// in one place, with the prefix and --max-nested-paths folding; a bad
// destination is refused.
func TestPlace(t *testing.T) {
	m := Mirror{Registry: "mirror.example:5000", Prefix: "pre"}
	for _, tc := range []struct {
		dest      string
		maxNested int
		want      Place
		bad       bool
	}{
		{"a/b/c:1", 0, Place{Registry: "mirror.example:5000", Repo: "pre/a/b/c", Tag: "1", Ref: "mirror.example:5000/pre/a/b/c:1"}, false},
		{"a/b/c:1", 2, Place{Registry: "mirror.example:5000", Repo: "pre/a-b-c", Tag: "1", Ref: "mirror.example:5000/pre/a-b-c:1"}, false},
		{"a/b/c", 0, Place{}, true},
		{"A/b:1", 0, Place{}, true},
	} {
		got, err := m.Place(tc.dest, tc.maxNested)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("Place(%q, %d) = %+v, %v; want %+v, bad %v", tc.dest, tc.maxNested, got, err, tc.want, tc.bad)
		}
		if err == nil && got.RepoTag() != tc.want.Repo+":"+tc.want.Tag {
			t.Errorf("RepoTag %q", got.RepoTag())
		}
	}
}
