// Package releasesig fetches and verifies OpenShift release payload
// signatures: OpenPGP-signed "atomic container signature" documents kept in
// a signature store (<store>/sha256=<hex>/signature-<n>), the same ones a
// cluster's version operator checks before it upgrades to a release.
//
// OpenPGP is github.com/ProtonMail/go-crypto: golang.org/x/crypto/openpgp is
// frozen and deprecated, and this maintained fork is what its deprecation
// notice points to.
package releasesig

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/refs"
)

// Environment variables, as the reference tool names them.
const (
	// StoreEnv replaces the signature store base URL.
	StoreEnv = "OCP_SIGNATURE_URL"
	// KeysEnv names an armored public keyring file that replaces the
	// embedded Red Hat release keys.
	KeysEnv = "OCP_SIGNATURE_VERIFICATION_PK"
	// DefaultStore is Red Hat's public signature store.
	DefaultStore = "https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release"
	// Type is the critical.type every release signature carries.
	Type = "atomic container signature"
)

// maxSignature bounds one signature document (real ones are under 1 KiB).
const maxSignature = 64 << 10

// The Red Hat release keys (openshift/cluster-update-keys), shipped with
// ocm so that a default run needs no key file.
//
//go:embed keys/*.asc
var embedded embed.FS

// ErrInvalid is wrapped by every reason a signature is refused (unreadable,
// not signed by a trusted key, made for another image or of another type).
var ErrInvalid = errors.New("invalid release signature")

// ErrNone: the store has no signature for the digest.
var ErrNone = errors.New("no signature in the signature store")

// Keyring holds the public keys signatures must be made with.
type Keyring struct {
	keys openpgp.EntityList
	// Source says where the keys came from, for error messages.
	Source string
}

// DefaultKeyring is the embedded Red Hat release keys.
func DefaultKeyring() (*Keyring, error) {
	names, err := embedded.ReadDir("keys")
	if err != nil {
		return nil, err
	}
	k := &Keyring{Source: "the Red Hat release keys built into ocm"}
	for _, n := range names {
		b, err := embedded.ReadFile(path.Join("keys", n.Name()))
		if err != nil {
			return nil, err
		}
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("built-in key %s: %w", n.Name(), err)
		}
		k.keys = append(k.keys, el...)
	}
	return k, nil
}

// ParseKeyring reads a public keyring, armored (gpg --armor --export) or
// binary (gpg --export, a pubring.gpg); source names it in errors.
func ParseKeyring(b []byte, source string) (*Keyring, error) {
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	if err != nil {
		// Not armored: containers/image accepts binary keyrings too.
		if bin, berr := openpgp.ReadKeyRing(bytes.NewReader(b)); berr == nil {
			el, err = bin, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not an OpenPGP public keyring (%v); fix: export it with gpg --armor --export", source, err)
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("%s: the keyring holds no public key; fix: export it with gpg --armor --export", source)
	}
	return &Keyring{keys: el, Source: source}, nil
}

// Add puts o's keys into k (several key files of one policy requirement).
func (k *Keyring) Add(o *Keyring) { k.keys = append(k.keys, o.keys...) }

// KeyringFromEnv is the keyring file named by OCP_SIGNATURE_VERIFICATION_PK,
// else the built-in Red Hat keys. A named file that cannot be read is an
// error (the reference tool falls back to its default key, which would hide
// a typo behind a later "not signed by a trusted key").
func KeyringFromEnv() (*Keyring, error) {
	p := os.Getenv(KeysEnv)
	if p == "" {
		return DefaultKeyring()
	}
	b, err := capread.File(p, capread.Config)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w; fix: name an armored public key file, or unset it to use the Red Hat release keys", KeysEnv, p, err)
	}
	return ParseKeyring(b, KeysEnv+"="+p)
}

// Claim is the signed document.
type Claim struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional,omitempty"`
}

// Verify checks that sig is an OpenPGP message signed by a key of k whose
// claim names digest and has the atomic container signature type (release
// signatures and containers-signature(5) simple signatures alike). The
// claim's critical.identity is the caller's to judge. Errors wrap
// ErrInvalid and say which check failed.
func (k *Keyring) Verify(sig []byte, digest string) (*Claim, error) {
	md, err := openpgp.ReadMessage(bytes.NewReader(sig), k.keys, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: not a readable OpenPGP message (%v)", ErrInvalid, err)
	}
	if !md.IsSigned {
		return nil, fmt.Errorf("%w: the OpenPGP message is not signed", ErrInvalid)
	}
	// go-crypto checks the signature only when the literal body has been
	// read to EOF; stopping earlier leaves SignatureError nil and SignedBy
	// filled from the unauthenticated one-pass packet. So the body is read
	// to its end, and one past the cap is refused rather than cut.
	body, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, maxSignature+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the signed document: %v (truncated or damaged?)", ErrInvalid, err)
	}
	if len(body) > maxSignature {
		return nil, fmt.Errorf("%w: the signed document is over %d KiB (real ones are under 1 KiB)", ErrInvalid, maxSignature>>10)
	}
	if md.SignedBy == nil {
		return nil, fmt.Errorf("%w: signed by key %016X, which is not in %s", ErrInvalid, md.SignedByKeyId, k.Source)
	}
	if md.SignatureError != nil {
		if errors.Is(md.SignatureError, pgperrors.ErrUnknownIssuer) {
			return nil, fmt.Errorf("%w: signed by key %016X, which is not in %s", ErrInvalid, md.SignedByKeyId, k.Source)
		}
		return nil, fmt.Errorf("%w: the signature by key %016X does not verify (%v)", ErrInvalid, md.SignedByKeyId, md.SignatureError)
	}
	// Every condition go-crypto sets on a checked signature, not just the
	// absence of an error: a message that never reached its signature
	// packet has no error either.
	if md.Signature == nil {
		return nil, fmt.Errorf("%w: the OpenPGP message has no signature packet", ErrInvalid)
	}
	var c Claim
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("%w: the signed document is not JSON (%v)", ErrInvalid, err)
	}
	if c.Critical.Type != Type {
		return nil, fmt.Errorf("%w: critical.type is %q, want %q", ErrInvalid, c.Critical.Type, Type)
	}
	if got := c.Critical.Image.DockerManifestDigest; got != digest {
		return nil, fmt.Errorf("%w: it signs digest %s (%s), not this image", ErrInvalid, got, c.Critical.Identity.DockerReference)
	}
	return &c, nil
}

// NamesVersion reports whether the claim's docker-reference, when it has a
// tag, names release version: Red Hat tags payloads <version>-<arch>
// (4.15.3-x86_64, 4.16.0-rc.1-multi), OKD and nightlies <version>. A
// reference by digest names no version and passes. tag is what was found.
func (c *Claim) NamesVersion(version string) (tag string, ok bool) {
	tag = refs.TagOf(c.Critical.Identity.DockerReference)
	if tag == "" || tag == version {
		return tag, true
	}
	// The arch suffix has no '-' or '.', so 4.16.0-rc.1-x86_64 does not
	// name 4.16.0.
	arch, ok := strings.CutPrefix(tag, version+"-")
	return tag, ok && arch != "" && !strings.ContainsAny(arch, "-.")
}

// digestPath turns "sha256:<hex>" into the store's "sha256=<hex>".
func digestPath(digest string) (string, error) {
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok || alg != "sha256" || len(hex) != 64 {
		return "", fmt.Errorf("payload digest %q is not sha256:<64 hex>", digest)
	}
	return alg + "=" + hex, nil
}

// KeyIDs lists the primary key IDs of the keyring (16 hex digits), for logs.
func (k *Keyring) KeyIDs() []string {
	var out []string
	for _, e := range k.keys {
		out = append(out, fmt.Sprintf("%016X", e.PrimaryKey.KeyId))
	}
	return out
}
