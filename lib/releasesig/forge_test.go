package releasesig_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

func claimFor(digest string) string {
	return fixture.ForgedClaim("quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", digest)
}

// TestForgedSignature: messages an attacker makes without the private key
// are refused, by the built-in Red Hat keys and by a keyring of one's own;
// a genuine signature still verifies next to them.
func TestForgedSignature(t *testing.T) {
	redhat, err := releasesig.DefaultKeyring()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := fixture.NewSigner("trusted")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := signer.PublicKey()
	own, err := releasesig.ParseKeyring(pub, "test key")
	if err != nil {
		t.Fatal(err)
	}
	ownID := signer.KeyID()
	genuine, err := signer.Sign("quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := own.Verify(genuine, payload); err != nil {
		t.Fatalf("a genuine signature must verify: %v", err)
	}
	real, err := os.ReadFile("testdata/ocp-release-4.15.0-x86_64.signature-1")
	if err != nil {
		t.Fatal(err)
	}
	const realDigest = "sha256:0da6316466d60a3a4535d5fed3589feb0391989982fba59d47d4c729912d6363"
	if _, err := redhat.Verify(real, realDigest); err != nil {
		t.Fatalf("Red Hat's genuine signature must verify: %v", err)
	}

	for _, c := range []struct {
		name string
		keys *releasesig.Keyring
		sig  []byte
		msg  string
	}{
		// The probe's message: ~330 bytes on the wire, 70,000 spaces inside.
		{"no signature packet, long body, Red Hat key", redhat, fixture.ForgedSignature(0x938A80CAF21541EB, claimFor(payload), 70000), "over 64 KiB"},
		{"no signature packet, long body, own key", own, fixture.ForgedSignature(ownID, claimFor(payload), 70000), "over 64 KiB"},
		{"no signature packet, short body, Red Hat key", redhat, fixture.ForgedSignature(0x938A80CAF21541EB, claimFor(payload), 0), "does not verify"},
		{"no signature packet, body at the cap", own, fixture.ForgedSignature(ownID, claimFor(payload), 64<<10-len(claimFor(payload))), "does not verify"},
		{"genuine signature of another digest", own, mustSign(t, signer, "sha256:2222222222222222222222222222222222222222222222222222222222222222"), "it signs digest sha256:2222"},
		{"genuine signature truncated", own, genuine[:len(genuine)-20], "does not verify"},
		{"real Red Hat signature cut short", redhat, real[:len(real)/2], ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if strings.HasPrefix(c.name, "no signature") && len(c.sig) > 2048 {
				t.Fatalf("the forged message is %d bytes; the attack needs it small", len(c.sig))
			}
			claim, err := c.keys.Verify(c.sig, payload)
			if err == nil {
				t.Fatalf("accepted a forged signature: %+v", claim.Critical)
			}
			if !errors.Is(err, releasesig.ErrInvalid) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v; want ErrInvalid containing %q", err, c.msg)
			}
		})
	}
}

func mustSign(t *testing.T, s *fixture.Signer, digest string) []byte {
	b, err := s.Sign("quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", digest)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
