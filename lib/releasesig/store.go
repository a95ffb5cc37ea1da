package releasesig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Store is a signature store reached over HTTP(S). Two layouts share it:
// the release store, <Base>/sha256=<hex>/signature-<n>, and a
// containers-registries.d(5) lookaside store, where Repo is the image's
// repository path (no host) and signatures are at
// <Base>/<Repo>@sha256=<hex>/signature-<n>.
type Store struct {
	Base string // no trailing slash
	Repo string // lookaside layout when set
	// HTTP is the client of the commands (registry.Client.HTTPClient:
	// retries, idle timeout, TLS policy). Required: there is no fallback
	// to a client without the transport's budget and TLS policy.
	HTTP *http.Client
	// Setting names what sets Base, for the fix of errors (default
	// OCP_SIGNATURE_URL).
	Setting string
}

// maxPerDigest bounds the signature-<n> probe: real stores hold one to three.
const maxPerDigest = 32

// ErrBadURL is returned for an unusable store URL.
var ErrBadURL = errors.New("bad signature store URL")

// NewStore checks base (an http(s) URL; a trailing slash is allowed, as the
// reference tool's examples have one).
func NewStore(base string) (*Store, error) { return newStore(base, StoreEnv) }

// NewLookaside checks the base URL of a lookaside store (the sigstore: or
// lookaside: URL of containers-registries.d(5)); setting names where it
// was given. Set Repo on a copy for each image.
func NewLookaside(base, setting string) (*Store, error) { return newStore(base, setting) }

func newStore(base, setting string) (*Store, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w %q; fix: set %s to an http(s) URL such as %s", ErrBadURL, base, setting, DefaultStore)
	}
	return &Store{Base: strings.TrimRight(base, "/"), Setting: setting}, nil
}

// StoreFromEnv is the store named by OCP_SIGNATURE_URL, else Red Hat's.
func StoreFromEnv() (*Store, error) {
	if v := os.Getenv(StoreEnv); v != "" {
		return NewStore(v)
	}
	return NewStore(DefaultStore)
}

// URL of signature n (from 1) of digest.
func (s *Store) URL(digest string, n int) (string, error) {
	p, err := digestPath(digest)
	if err != nil {
		return "", err
	}
	if s.Repo != "" {
		return fmt.Sprintf("%s/%s@%s/signature-%d", s.Base, s.Repo, p, n), nil
	}
	return fmt.Sprintf("%s/%s/signature-%d", s.Base, p, n), nil
}

// errNotFound ends the signature-<n> probe.
var errNotFound = errors.New("not found")

func (s *Store) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if s.HTTP == nil {
		return nil, errors.New("signature store: no HTTP client; fix: set Store.HTTP to registry.Client.HTTPClient()")
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		setting := s.Setting
		if setting == "" {
			setting = StoreEnv
		}
		return nil, fmt.Errorf("signature store (%s sets it): %w", setting, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, errNotFound
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("signature store: %s from %s", resp.Status, u)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSignature+1))
	if err != nil {
		return nil, fmt.Errorf("signature store: reading %s: %w", u, err)
	}
	if len(b) > maxSignature {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrInvalid, u, maxSignature)
	}
	return b, nil
}

// Fetch returns signature-1, -2, ... of digest, up to the first 404.
// A store without signature-1 gives ErrNone.
func (s *Store) Fetch(ctx context.Context, digest string) ([][]byte, error) {
	var out [][]byte
	for n := 1; n <= maxPerDigest; n++ {
		u, err := s.URL(digest, n)
		if err != nil {
			return nil, err
		}
		b, err := s.get(ctx, u)
		if errors.Is(err, errNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		u, _ := s.URL(digest, 1)
		return nil, fmt.Errorf("%w (%s answered 404)", ErrNone, u)
	}
	return out, nil
}

// Verifier fetches a payload's signatures and keeps those that verify.
type Verifier struct {
	Store *Store
	Keys  *Keyring
}

// FromEnv is the verifier of OCP_SIGNATURE_URL and OCP_SIGNATURE_VERIFICATION_PK.
func FromEnv() (*Verifier, error) {
	s, err := StoreFromEnv()
	if err != nil {
		return nil, err
	}
	k, err := KeyringFromEnv()
	if err != nil {
		return nil, err
	}
	return &Verifier{Store: s, Keys: k}, nil
}

// Verified is a signature that verified, and the claim it signs.
type Verified struct {
	Data  []byte
	Claim *Claim
}

// Signatures returns the signatures of digest that verify, in store order.
// A cluster accepts a release when one of them verifies, so others (e.g. by
// a key not in the keyring) are left out; none valid is an error naming
// each signature and why it was refused.
func (v *Verifier) Signatures(ctx context.Context, digest string) ([]Verified, error) {
	all, err := v.Store.Fetch(ctx, digest)
	if err != nil {
		return nil, err
	}
	var good []Verified
	var why []string
	for i, b := range all {
		c, err := v.Keys.Verify(b, digest)
		if err != nil {
			why = append(why, fmt.Sprintf("signature-%d: %v", i+1, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")))
			continue
		}
		good = append(good, Verified{b, c})
	}
	if len(good) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(why, "; "))
	}
	return good, nil
}
