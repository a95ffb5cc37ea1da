package releasesig_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

const payload = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

// TestBuiltInKeys: both Red Hat keys load and are the published ones.
func TestBuiltInKeys(t *testing.T) {
	k, err := releasesig.DefaultKeyring()
	if err != nil {
		t.Fatal(err)
	}
	ids := k.KeyIDs()
	want := map[string]bool{"199E2F91FD431D51": false, "938A80CAF21541EB": false}
	for _, id := range ids {
		if _, ok := want[id]; ok {
			want[id] = true
		}
	}
	for id, found := range want {
		if !found {
			t.Errorf("key %s not in the built-in keyring (have %v)", id, ids)
		}
	}
}

func TestVerifier(t *testing.T) {
	good, err := fixture.NewSigner("trusted")
	if err != nil {
		t.Fatal(err)
	}
	other, err := fixture.NewSigner("untrusted")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := good.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := releasesig.ParseKeyring(pub, "test key")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(s *fixture.Signer, digest string) []byte {
		b, err := s.Sign("quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", digest)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := sign(good, payload)
	for _, c := range []struct {
		name  string
		sigs  [][]byte
		want  int    // valid signatures returned
		isErr error  // wrapped sentinel
		msg   string // in the error
	}{
		{"one valid", [][]byte{valid}, 1, nil, ""},
		{"valid after one by another key", [][]byte{sign(other, payload), valid}, 1, nil, ""},
		{"missing", nil, 0, releasesig.ErrNone, "signature-1 answered 404"},
		{"other key", [][]byte{sign(other, payload)}, 0, releasesig.ErrInvalid, "signature-1: signed by key"},
		{"other digest", [][]byte{sign(good, "sha256:2222222222222222222222222222222222222222222222222222222222222222")}, 0, releasesig.ErrInvalid, "signs digest sha256:2222"},
		{"garbage", [][]byte{[]byte("<html>nope</html>")}, 0, releasesig.ErrInvalid, "not a readable OpenPGP message"},
		{"truncated", [][]byte{valid[:len(valid)/2]}, 0, releasesig.ErrInvalid, "signature-1: reading the signed document"},
		{"tampered", [][]byte{tamper(valid)}, 0, releasesig.ErrInvalid, "does not verify"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for i := range c.sigs {
					if r.URL.Path == "/sigs/sha256="+payload[7:]+"/signature-"+string(rune('1'+i)) {
						w.Write(c.sigs[i])
						return
					}
				}
				http.NotFound(w, r)
			}))
			defer srv.Close()
			store, err := releasesig.NewStore(srv.URL + "/sigs/")
			if err != nil {
				t.Fatal(err)
			}
			store.HTTP = srv.Client()
			got, err := (&releasesig.Verifier{Store: store, Keys: keys}).Signatures(context.Background(), payload)
			if c.isErr == nil {
				if err != nil || len(got) != c.want {
					t.Fatalf("got %d signatures, %v; want %d", len(got), err, c.want)
				}
				return
			}
			t.Logf("%v", err)
			if !errors.Is(err, c.isErr) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v; want %v containing %q", err, c.isErr, c.msg)
			}
		})
	}
}

// tamper flips one byte of the signed document (kept readable: the literal
// data is stored uncompressed by the fixture signer).
func tamper(sig []byte) []byte {
	b := append([]byte(nil), sig...)
	i := strings.Index(string(b), "atomic container signature")
	b[i] = 'A'
	return b
}

func TestStoreURL(t *testing.T) {
	for _, c := range []struct{ base, want, err string }{
		{releasesig.DefaultStore, "https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release/sha256=" + payload[7:] + "/signature-2", ""},
		{"https://storage.googleapis.com/openshift-release/official/signatures/openshift/release/", "https://storage.googleapis.com/openshift-release/official/signatures/openshift/release/sha256=" + payload[7:] + "/signature-2", ""},
		{"mirror.openshift.com/sigs", "", "bad signature store URL"},
		{"ftp://x/y", "", "bad signature store URL"},
	} {
		s, err := releasesig.NewStore(c.base)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.base, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.URL(payload, 2); got != c.want {
			t.Errorf("%s: %s, want %s", c.base, got, c.want)
		}
	}
	// containers-registries.d(5) lookaside layout: <base>/<repo>@sha256=<hex>/signature-<n>.
	s, err := releasesig.NewLookaside("https://sigs.example.com/lookaside/", "--signature-lookaside")
	if err != nil {
		t.Fatal(err)
	}
	s.Repo = "acme/app"
	if got, want := mustURL(t, s, 1), "https://sigs.example.com/lookaside/acme/app@sha256="+payload[7:]+"/signature-1"; got != want {
		t.Errorf("lookaside: %s, want %s", got, want)
	}
	if _, err := releasesig.NewLookaside("sigs.example.com", "--signature-lookaside"); err == nil || !strings.Contains(err.Error(), "set --signature-lookaside to an http(s) URL") {
		t.Errorf("bad lookaside URL: %v", err)
	}
}

func mustURL(t *testing.T, s *releasesig.Store, n int) string {
	t.Helper()
	u, err := s.URL(payload, n)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestKeyringFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(releasesig.KeysEnv, filepath.Join(dir, "absent.asc"))
	if _, err := releasesig.KeyringFromEnv(); err == nil || !strings.Contains(err.Error(), releasesig.KeysEnv) {
		t.Fatalf("missing key file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "bad.asc"), []byte("not a key"), 0o644)
	t.Setenv(releasesig.KeysEnv, filepath.Join(dir, "bad.asc"))
	if _, err := releasesig.KeyringFromEnv(); err == nil || !strings.Contains(err.Error(), "not an OpenPGP public keyring") {
		t.Fatalf("bad key file: %v", err)
	}
	// A binary keyring (gpg --export) is read as well as an armored one.
	s, err := fixture.NewSigner("binary")
	if err != nil {
		t.Fatal(err)
	}
	var bin bytes.Buffer
	if err := s.Entity.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "pubring.gpg"), bin.Bytes(), 0o644)
	t.Setenv(releasesig.KeysEnv, filepath.Join(dir, "pubring.gpg"))
	k, err := releasesig.KeyringFromEnv()
	if err != nil {
		t.Fatalf("binary keyring: %v", err)
	}
	if ids := k.KeyIDs(); len(ids) != 1 || ids[0] != fmt.Sprintf("%016X", s.Entity.PrimaryKey.KeyId) {
		t.Errorf("binary keyring: keys %v", ids)
	}
}

// TestRealRedHatSignature: a signature from Red Hat's store verifies with
// the built-in keys, and only for the digest it signs.
func TestRealRedHatSignature(t *testing.T) {
	sig, err := os.ReadFile("testdata/ocp-release-4.15.0-x86_64.signature-1")
	if err != nil {
		t.Fatal(err)
	}
	k, err := releasesig.DefaultKeyring()
	if err != nil {
		t.Fatal(err)
	}
	const digest = "sha256:0da6316466d60a3a4535d5fed3589feb0391989982fba59d47d4c729912d6363"
	c, err := k.Verify(sig, digest)
	if err != nil {
		t.Fatal(err)
	}
	if c.Critical.Identity.DockerReference != "quay.io/openshift-release-dev/ocp-release:4.15.0-x86_64" {
		t.Fatalf("claim %+v", c.Critical)
	}
	if _, err := k.Verify(sig, payload); !errors.Is(err, releasesig.ErrInvalid) || !strings.Contains(err.Error(), "it signs digest "+digest) {
		t.Fatalf("another digest: %v", err)
	}
	other, err := fixture.NewSigner("someone")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := other.PublicKey()
	ok, _ := releasesig.ParseKeyring(pub, "another key")
	if _, err := ok.Verify(sig, digest); err == nil || !strings.Contains(err.Error(), "signed by key 199E2F91FD431D51, which is not in another key") {
		t.Fatalf("another keyring: %v", err)
	}
}

// TestClaimNamesVersion: the tag of a signature's docker-reference names
// a release as Red Hat (<version>-<arch>), OKD and nightlies (<version>)
// tag payloads; a release candidate's tag does not name the GA version.
func TestClaimNamesVersion(t *testing.T) {
	for _, c := range []struct {
		ref, version string
		ok           bool
	}{
		{"quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", "4.15.3", true},
		{"quay.io/openshift-release-dev/ocp-release:4.15.3-multi", "4.15.3", true},
		{"quay.io/openshift-release-dev/ocp-release:4.16.0-rc.1-aarch64", "4.16.0-rc.1", true},
		{"quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116", "4.15.0-0.okd-2024-03-10-010116", true},
		{"quay.io/openshift-release-dev/ocp-release@sha256:" + strings.Repeat("a", 64), "4.15.3", true},
		{"localhost:5000/ocp-release:4.15.3-x86_64", "4.15.3", true},
		{"quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", "4.16.9", false},
		{"quay.io/openshift-release-dev/ocp-release:4.15.30-x86_64", "4.15.3", false},
		{"quay.io/openshift-release-dev/ocp-release:4.16.0-rc.1-x86_64", "4.16.0", false},
		{"quay.io/openshift-release-dev/ocp-release:4.15.3-", "4.15.3", false},
	} {
		var claim releasesig.Claim
		claim.Critical.Identity.DockerReference = c.ref
		if _, ok := claim.NamesVersion(c.version); ok != c.ok {
			t.Errorf("%s names %s: %v, want %v", c.ref, c.version, ok, c.ok)
		}
	}
}
