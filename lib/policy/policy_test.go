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
		if got, _ := p.For(repo); got != tc.scope {
			t.Errorf("%s: scope %q, want %q", tc.repo, got, tc.scope)
		}
	}
	p.Transports["docker"][""] = []Requirement{{Type: "insecureAcceptAnything"}}
	repo, _ := name.NewRepository("elsewhere.io/x")
	if got, _ := p.For(repo); got != "docker" {
		t.Errorf("transport default: scope %q, want docker", got)
	}
}
