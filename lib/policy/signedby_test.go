package policy

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

func signer(t *testing.T, who string) (*fixture.Signer, []byte) {
	t.Helper()
	s, err := fixture.NewSigner(who)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := s.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

func TestLoadSignedBy(t *testing.T) {
	dir := t.TempDir()
	s1, armored := signer(t, "one")
	_, armored2 := signer(t, "two")
	var bin bytes.Buffer
	if err := s1.Entity.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	asc := write(t, dir, "k.asc", string(armored))
	asc2 := write(t, dir, "k2.asc", string(armored2))
	gpg := write(t, dir, "pubring.gpg", bin.String())
	notKey := write(t, dir, "not.asc", "not a key")
	b64 := base64.StdEncoding.EncodeToString
	req := func(fields string) string {
		return `{"default":[{"type":"reject"}],"transports":{"docker":{"q.io/a":[{"type":"signedBy",` + fields + `}]}}}`
	}
	for _, tc := range []struct {
		name, policy, want string
		keys               int // loaded, when want is ""
	}{
		{"keyPath armored", req(`"keyType":"GPGKeys","keyPath":"` + asc + `"`), "", 1},
		{"keyPath binary", req(`"keyType":"GPGKeys","keyPath":"` + gpg + `"`), "", 1},
		{"keyPaths", req(`"keyType":"GPGKeys","keyPaths":["` + asc + `","` + asc2 + `"]`), "", 2},
		{"keyData armored", req(`"keyType":"GPGKeys","keyData":"` + b64(armored) + `"`), "", 1},
		{"keyData binary", req(`"keyType":"GPGKeys","keyData":"` + b64(bin.Bytes()) + `"`), "", 1},
		{"identity", req(`"keyType":"GPGKeys","keyPath":"` + asc + `","signedIdentity":{"type":"exactRepository","dockerRepository":"q.io/a"}`), "", 1},
		{"no keyType", req(`"keyPath":"` + asc + `"`), `transports.docker["q.io/a"][0] (signedBy): keyType is missing`, 0},
		{"X509 keyType", req(`"keyType":"X509Certificates","keyPath":"` + asc + `"`), `keyType "X509Certificates" is not supported`, 0},
		{"no key", req(`"keyType":"GPGKeys"`), `exactly one of keyPath, keyPaths, keyData is needed, 0 given`, 0},
		{"two key fields", req(`"keyType":"GPGKeys","keyPath":"` + asc + `","keyData":"` + b64(armored) + `"`), `exactly one of keyPath, keyPaths, keyData is needed, 2 given`, 0},
		{"keyPath missing", req(`"keyType":"GPGKeys","keyPath":"` + dir + `/absent.asc"`), `keyPath: open`, 0},
		{"keyPath not a key", req(`"keyType":"GPGKeys","keyPath":"` + notKey + `"`), `keyPath ` + notKey + `: not an OpenPGP public keyring`, 0},
		{"keyPaths one not a key", req(`"keyType":"GPGKeys","keyPaths":["` + asc + `","` + notKey + `"]`), `keyPaths ` + notKey + `: not an OpenPGP public keyring`, 0},
		{"keyData not base64", req(`"keyType":"GPGKeys","keyData":"%%%"`), `keyData is not base64`, 0},
		{"empty keyring", req(`"keyType":"GPGKeys","keyPath":"/dev/null"`), `keyPath /dev/null: the keyring holds no public key`, 0},
		{"sigstore field", req(`"keyType":"GPGKeys","keyPath":"` + asc + `","rekorPublicKeyPath":"r.pub"`), `fulcio and rekor settings belong to sigstoreSigned`, 0},
		{"bad identity", req(`"keyType":"GPGKeys","keyPath":"` + asc + `","signedIdentity":{"type":"remapIdentity"}`), `signedIdentity type "remapIdentity" is not supported`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, dir, "policy.json", tc.policy)
			pol, err := Load(p)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
					t.Fatalf("error %v, want one naming %s and %q", err, p, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := pol.Transports["docker"]["q.io/a"][0]
			if r.gpg == nil || len(r.gpg.KeyIDs()) != tc.keys {
				t.Fatalf("keys loaded: %v, want %d", r.gpg, tc.keys)
			}
		})
	}
}

// lookaside serves sigs (keyed repo@digest) as a lookaside store.
func lookaside(t *testing.T, sigs map[string][][]byte) *releasesig.Store {
	t.Helper()
	var l fixture.Lookaside
	for k, ss := range sigs {
		repo, digest, _ := strings.Cut(k, "@")
		for _, s := range ss {
			l.Add(repo, digest, s)
		}
	}
	srv := httptest.NewServer(&l)
	t.Cleanup(srv.Close)
	st, err := releasesig.NewLookaside(srv.URL+"/", LookasideFlag)
	if err != nil {
		t.Fatal(err)
	}
	st.HTTP = srv.Client()
	return st
}

func TestSignedBy(t *testing.T) {
	good, pub := signer(t, "trusted")
	other, _ := signer(t, "other")
	dir := t.TempDir()
	key := write(t, dir, "k.asc", string(pub))
	d := func(i int) string { return fmt.Sprintf("sha256:%064x", i) }
	sign := func(s *fixture.Signer, ref, digest string) []byte {
		b, err := s.Sign(ref, digest)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	st := lookaside(t, map[string][][]byte{
		"acme/good@" + d(1):     {sign(good, "q.io/acme/good:v1", d(1))},
		"acme/other@" + d(2):    {sign(other, "q.io/acme/other:v1", d(2))},
		"acme/second@" + d(3):   {sign(other, "q.io/acme/second:v1", d(3)), sign(good, "q.io/acme/second:v1", d(3))},
		"acme/moved@" + d(4):    {sign(good, "q.io/acme/elsewhere:v1", d(4))},
		"acme/replayed@" + d(5): {sign(good, "q.io/acme/replayed:v1", d(6))},
		"acme/garbage@" + d(7):  {[]byte("<html>no</html>")},
		"acme/exact@" + d(8):    {sign(good, "q.io/acme/signed-as:v1", d(8))},
		// Made with no private key: a one-pass packet naming the trusted
		// key, the claim and 70,000 spaces, no signature packet.
		"acme/forged@" + d(10):       {fixture.ForgedSignature(good.KeyID(), fixture.ForgedClaim("q.io/acme/forged:v1", d(10)), 70000)},
		"acme/forged-short@" + d(11): {fixture.ForgedSignature(good.KeyID(), fixture.ForgedClaim("q.io/acme/forged-short:v1", d(11)), 0)},
	})
	pol := write(t, dir, "policy.json", `{"default":[{"type":"reject"}],"transports":{"docker":{
		"q.io/acme": [{"type":"signedBy","keyType":"GPGKeys","keyPath":"`+key+`"}],
		"q.io/acme/exact": [{"type":"signedBy","keyType":"GPGKeys","keyPath":"`+key+`","signedIdentity":{"type":"exactRepository","dockerRepository":"q.io/acme/signed-as"}}]}}}`)
	p, err := Load(pol)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		repo   string
		digest string
		want   string // in the rejection; "" accepted
	}{
		{"acme/good", d(1), ""},
		{"acme/second", d(3), ""},
		{"acme/exact", d(8), ""},
		{"acme/unsigned", d(9), "has no signature found (" + st.Base + "/acme/unsigned@sha256=" + d(9)[7:] + "/signature-1 answered 404"},
		{"acme/other", d(2), "has no valid signature by the policy's keys: signature-1: signed by key " + fmt.Sprintf("%016X", other.Entity.PrimaryKey.KeyId) + ", which is not in the policy's keys"},
		{"acme/moved", d(4), "signature-1: signed for another image (q.io/acme/elsewhere:v1)"},
		{"acme/replayed", d(5), "signature-1: it signs digest " + d(6)},
		{"acme/garbage", d(7), "signature-1: not a readable OpenPGP message"},
		{"acme/forged", d(10), "signature-1: the signed document is over 64 KiB"},
		{"acme/forged-short", d(11), "signature-1: the signature by key " + fmt.Sprintf("%016X", good.KeyID()) + " does not verify"},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			repo, err := name.NewRepository("q.io/" + tc.repo)
			if err != nil {
				t.Fatal(err)
			}
			err = (&Checker{Policy: p, Lookaside: st}).Check(context.Background(), repo, "", tc.digest)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var rej *Rejection
			if !errors.As(err, &rej) || !errors.Is(err, ErrRejected) || rej.Requirement != "signedBy" || !strings.Contains(err.Error(), "q.io/"+tc.repo+"@"+tc.digest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want a signedBy rejection naming the image and %q", err, tc.want)
			}
		})
	}
	// Without a lookaside store every signedBy image fails alone, saying how to fix it.
	repo, _ := name.NewRepository("q.io/acme/good")
	err = (&Checker{Policy: p}).Check(context.Background(), repo, "", d(1))
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "no signature found") || !strings.Contains(err.Error(), "fix: give "+LookasideFlag) {
		t.Errorf("no lookaside: %v", err)
	}
}
