package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// pubPEM is a fresh P-256 public key, PEM-encoded as cosign.pub is.
func pubPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func write(t *testing.T, dir, name, s string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRefusesWhatItCannotEvaluate(t *testing.T) {
	dir := t.TempDir()
	key := write(t, dir, "k.pub", pubPEM(t))
	for _, tc := range []struct{ policy, want string }{
		{`{"default":[{"type":"insecureAcceptAnything"}]}`, ""},
		{`{"default":[{"type":"sigstoreSigned","keyPath":"` + key + `"}]}`, ""},
		{`{"default":[]}`, `"default" is missing or empty`},
		{`{"default":[{"type":"accept"}]}`, `default[0] (accept): unknown requirement type`},
		{`{"default":[{"type":"reject"}],"transports":{"docker":{"q.io/a":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"x"}]}}}`, `transports.docker["q.io/a"][0] (signedBy): keyPath: open x`},
		{`{"default":[{"type":"sigstoreSigned","keyPath":"` + key + `","fulcio":{"caPath":"x"}}]}`, `fulcio and rekor settings are not supported`},
		{`{"default":[{"type":"sigstoreSigned"}]}`, `exactly one of keyPath, keyPaths, keyData is needed, 0 given`},
		{`{"default":[{"type":"sigstoreSigned","keyData":"bm90IGEga2V5"}]}`, `not a PEM public key`},
		{`{"default":[{"type":"sigstoreSigned","keyPath":"` + dir + `/missing.pub"}]}`, `keyPath: open`},
		{`{"default":[{"type":"reject"}],"bogus":1}`, `unknown field "bogus"`},
		{`{"default":[{"type":"sigstoreSigned","keyPath":"` + key + `","signedIdentity":{"type":"remapIdentity"}}]}`, `signedIdentity type "remapIdentity" is not supported`},
	} {
		p := write(t, dir, "policy.json", tc.policy)
		_, err := Load(p)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.policy, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p)):
			t.Errorf("%s: error %v, want one naming %s and %q", tc.policy, err, p, tc.want)
		}
	}
}

func TestScopes(t *testing.T) {
	p := &Policy{
		Default: []Requirement{{Type: "reject"}},
		Transports: map[string]map[string][]Requirement{"docker": {
			"q.io/ns/app":     {{Type: "insecureAcceptAnything"}},
			"q.io/ns":         {{Type: "sigstoreSigned"}},
			"q.io":            {{Type: "reject"}},
			"*.example.com":   {{Type: "insecureAcceptAnything"}},
			"*.a.example.com": {{Type: "sigstoreSigned"}},
		}},
	}
	for _, tc := range []struct{ repo, scope string }{
		{"q.io/ns/app", "q.io/ns/app"},
		{"q.io/ns/app2", "q.io/ns"},
		{"q.io/ns/sub/x", "q.io/ns"},
		{"q.io/other", "q.io"},
		{"r.example.com/x", "*.example.com"},
		{"r.a.example.com:5000/x", "*.a.example.com"},
		{"elsewhere.io/x", "default"},
	} {
		repo, err := name.NewRepository(tc.repo)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := p.For(repo, "", ""); got != tc.scope {
			t.Errorf("%s: scope %q, want %q", tc.repo, got, tc.scope)
		}
	}
	p.Transports["docker"][""] = []Requirement{{Type: "insecureAcceptAnything"}}
	repo, _ := name.NewRepository("elsewhere.io/x")
	if got, _ := p.For(repo, "", ""); got != "docker" {
		t.Errorf("transport default: scope %q, want docker", got)
	}
}

// N2: Docker Hub scopes are written docker.io/... (containers-policy.json(5))
// while go-containerregistry names Docker Hub index.docker.io, so they never
// applied; and repo:tag and repo@digest scopes were accepted and ignored.
// Most specific first: the source's tag or the digest judged, the
// repository, its namespaces, the host, wildcards, the transport's "", the
// default.
func TestN2DockerHubTagAndDigestScopes(t *testing.T) {
	const dgst = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	const other = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	p := &Policy{
		Default: []Requirement{{Type: "insecureAcceptAnything"}},
		Transports: map[string]map[string][]Requirement{"docker": {
			"docker.io":                        {{Type: "reject"}},
			"docker.io/acme":                   {{Type: "reject"}},
			"docker.io/library/alpine":         {{Type: "sigstoreSigned"}},
			"docker.io/library/alpine:3.20":    {{Type: "insecureAcceptAnything"}},
			"docker.io/library/alpine@" + dgst: {{Type: "signedBy"}},
			"q.io/ns/app:1":                    {{Type: "insecureAcceptAnything"}},
			"q.io:5000/ns/app@" + dgst:         {{Type: "insecureAcceptAnything"}},
			"q.io/ns":                          {{Type: "reject"}},
		}},
	}
	for _, tc := range []struct{ repo, tag, digest, scope string }{
		{"docker.io/acme/app", "1", other, "docker.io/acme"},
		{"index.docker.io/acme/app", "", other, "docker.io/acme"},
		{"acme/app", "", other, "docker.io/acme"},
		{"docker.io/someone/app", "", other, "docker.io"},
		{"alpine", "latest", other, "docker.io/library/alpine"},
		{"docker.io/library/alpine", "3.20", other, "docker.io/library/alpine:3.20"},
		{"docker.io/library/alpine", "", dgst, "docker.io/library/alpine@" + dgst},
		{"docker.io/library/alpine", "3.20", dgst, "docker.io/library/alpine:3.20"},
		{"q.io/ns/app", "1", other, "q.io/ns/app:1"},
		{"q.io/ns/app", "2", other, "q.io/ns"},
		{"q.io:5000/ns/app", "2", dgst, "q.io:5000/ns/app@" + dgst},
		{"q.io/ns/app", "", dgst, "q.io/ns"},
	} {
		repo, err := name.NewRepository(tc.repo)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := p.For(repo, tc.tag, tc.digest); got != tc.scope {
			t.Errorf("%s tag %q digest %s: scope %q, want %q", tc.repo, tc.tag, tc.digest[:12], got, tc.scope)
		}
	}
	// A scope naming Docker Hub as index.docker.io would never apply:
	// containers/image normalises to docker.io. It is refused, with the fix.
	dir := t.TempDir()
	pf := write(t, dir, "policy.json", `{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"index.docker.io/acme":[{"type":"reject"}]}}}`)
	if _, err := Load(pf); err == nil || !strings.Contains(err.Error(), `fix: write "docker.io/acme"`) {
		t.Errorf("index.docker.io scope: %v", err)
	}
}
