package releasesig_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

// packet is one OpenPGP packet in the new format with a five-octet length
// (RFC 4880 4.2.2.3), written byte by byte so that nothing the library
// adds (a signature, a checksum) can creep into the hostile input.
func packet(tag byte, body []byte) []byte {
	b := []byte{0xC0 | tag, 0xFF}
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// forged is a message made with no private key: a compressed-data packet
// holding a one-pass-signature packet that names keyID and a literal-data
// packet with claim followed by pad spaces; no signature packet follows.
// With a body longer than what a verifier reads, the one-pass packet alone
// used to make the message look "signed by" keyID.
func forged(keyID uint64, claim string, pad int) []byte {
	ops := []byte{3, 0x00, 8, 1} // v3, binary document, SHA-256, RSA
	ops = binary.BigEndian.AppendUint64(ops, keyID)
	ops = append(ops, 1) // last one-pass packet
	lit := []byte{'b', 0, 0, 0, 0, 0}
	lit = append(lit, claim...)
	lit = append(lit, bytes.Repeat([]byte(" "), pad)...)
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestCompression)
	zw.Write(packet(4, ops))
	zw.Write(packet(11, lit))
	zw.Close()
	return packet(8, append([]byte{1}, z.Bytes()...)) // 1: ZIP (raw deflate)
}

func claimFor(digest string) string {
	return fmt.Sprintf(`{"critical":{"identity":{"docker-reference":"quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64"},"image":{"docker-manifest-digest":%q},"type":"atomic container signature"},"optional":{"creator":"forger"}}`, digest)
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
	var ownID uint64
	fmt.Sscanf(own.KeyIDs()[0], "%X", &ownID)
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
		{"no signature packet, long body, Red Hat key", redhat, forged(0x938A80CAF21541EB, claimFor(payload), 70000), "over 64 KiB"},
		{"no signature packet, long body, own key", own, forged(ownID, claimFor(payload), 70000), "over 64 KiB"},
		{"no signature packet, short body, Red Hat key", redhat, forged(0x938A80CAF21541EB, claimFor(payload), 0), "does not verify"},
		{"no signature packet, body at the cap", own, forged(ownID, claimFor(payload), 64<<10-len(claimFor(payload))), "does not verify"},
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
