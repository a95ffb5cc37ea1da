package refs

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestDestination(t *testing.T) {
	cases := []struct{ in, path, tag, err string }{
		{"registry.redhat.io/ubi9/ubi:latest", "ubi9/ubi", "latest", ""},
		{"registry.redhat.io/ubi9/ubi", "ubi9/ubi", "latest", ""},
		{"quay.io/ns/app@" + dg, "ns/app", "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", ""},
		{"quay.io/ns/app:v1@" + dg, "ns/app", "v1", ""},
		{"alpine:3", "library/alpine", "3", ""},
		{"docker.io/library/alpine:3.20", "library/alpine", "3.20", ""},
		{"127.0.0.1:5000/a/b/c/d:1.0", "a/b/c/d", "1.0", ""},
		{"localhost:5000/x:y", "x", "y", ""},
		{"Quay.io/UPPER/app:1", "", "", "bad image reference"},
		{"quay.io/ns/app@sha256:short", "", "", "bad image reference"},
	}
	for _, c := range cases {
		d, err := Destination(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || d.Path != c.path || d.Tag != c.tag {
			t.Errorf("%s: got %+v %v, want %s:%s", c.in, d, err, c.path, c.tag)
		}
		if _, err := name.NewTag("example.com/"+d.String(), name.StrictValidation); err != nil {
			t.Errorf("%s: destination %s is not a valid reference: %v", c.in, d, err)
		}
	}
}

func TestSplitDestination(t *testing.T) {
	for _, ok := range []string{"a/b:c", "ubi9/ubi:latest", "x:sha256-" + strings.Repeat("a", 64)} {
		if _, _, err := SplitDestination(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "a/b:", ":x", "host:5000/a", "A/B:c"} {
		if _, _, err := SplitDestination(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMirror(t *testing.T) {
	cases := []struct {
		target, path string
		nested       int
		want, err    string
	}{
		{"docker://mirror.example.com:5000", "ubi9/ubi", 0, "ubi9/ubi", ""},
		{"docker://mirror.example.com:5000/ocp", "ubi9/ubi", 0, "ocp/ubi9/ubi", ""},
		{"docker://m/mirror/", "a/b/c/d", 3, "mirror/a/b-c-d", ""},
		{"docker://m/mirror", "a/b/c/d", 1, "mirror-a-b-c-d", ""},
		{"docker://m/mirror", "a/b/c/d", 2, "mirror/a-b-c-d", ""},
		{"docker://m/mirror", "a/b/c/d", 4, "mirror/a/b/c-d", ""},
		{"docker://m/mirror", "a/b/c/d", 5, "mirror/a/b/c/d", ""},
		{"docker://m", "a/b/c/d", 2, "a/b-c-d", ""},
		{"mirror.example.com", "", 0, "", "missing docker:// scheme"},
		{"docker://", "", 0, "", "no registry host"},
		{"docker://m/Upper", "", 0, "", "must be lowercase"},
		{"docker://m:port/x", "", 0, "", "bad registry host"},
	}
	for _, c := range cases {
		m, err := ParseMirror(c.target)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err = %v, want %q", c.target, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.target, err)
		}
		if got := m.Repo(c.path, c.nested); got != c.want {
			t.Errorf("%s + %s (max %d) = %s, want %s", c.target, c.path, c.nested, got, c.want)
		}
	}
	m, _ := ParseMirror("docker://127.0.0.1:5000/p")
	if got := m.Reference("a/b", "v1", 0); got != "127.0.0.1:5000/p/a/b:v1" {
		t.Errorf("Reference = %s", got)
	}
}
