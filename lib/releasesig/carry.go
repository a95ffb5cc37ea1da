package releasesig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// ErrNotCached: a signature the record names is neither in the cache nor
// reachable (no store given).
var ErrNotCached = errors.New("release signature not in the cache")

// Load returns the signatures r names (a payload record), in order. Each
// comes from the cache c when it holds it, else from the store s (when
// given), where it must be byte for byte the one the plan verified: the
// digest pins it. What came from the store is added to c (when given).
func Load(ctx context.Context, c *cache.Cache, s *Store, r *record.Record) ([][]byte, error) {
	out := make([][]byte, len(r.Signatures))
	var missing []int
	for i, b := range r.Signatures {
		if c != nil {
			if ok, _ := c.Has(b.Digest); ok {
				data, err := c.ReadBlob(b.Digest)
				if err != nil {
					return nil, fmt.Errorf("release %s: signature %s: %w", r.Release, b.Digest, err)
				}
				out[i] = data
				continue
			}
		}
		missing = append(missing, i)
	}
	if len(missing) == 0 {
		return out, nil
	}
	if s == nil {
		b := r.Signatures[missing[0]]
		return nil, fmt.Errorf("release %s (%s): signature %s: %w; fix: pass the --cache that ocm-fetch or ocm-unpack filled", r.Release, r.Digest, b.Digest, ErrNotCached)
	}
	all, err := s.Fetch(ctx, r.Digest)
	if err != nil {
		return nil, fmt.Errorf("release %s (%s): %w", r.Release, r.Digest, err)
	}
	byDigest := map[string][]byte{}
	for _, b := range all {
		byDigest[verify.Digest(b)] = b
	}
	for _, i := range missing {
		want := r.Signatures[i]
		data, ok := byDigest[want.Digest]
		if !ok {
			return nil, fmt.Errorf("release %s (%s): signature %s verified at plan time is no longer in the store %s; fix: plan again", r.Release, r.Digest, want.Digest, s.Base)
		}
		if c != nil {
			if _, err := c.Put(ctx, want.Digest, want.Size, bytes.NewReader(data)); err != nil {
				return nil, fmt.Errorf("release %s: caching signature %s: %w", r.Release, want.Digest, err)
			}
		}
		out[i] = data
	}
	return out, nil
}

// ResourcesKeyring is the keyring ocm-resources verifies signatures with:
// KeyringFromEnv when asked (--verify-release-signatures) or when
// OCP_SIGNATURE_VERIFICATION_PK names one, since a keyring given is used;
// nil otherwise (signatures are written as carried, pinned by the digests
// the plan recorded).
func ResourcesKeyring(asked bool) (*Keyring, error) {
	if !asked && os.Getenv(KeysEnv) == "" {
		return nil, nil
	}
	return KeyringFromEnv()
}

// Pushed reads the signatures of every pushed release payload of recs
// (payload digest -> signatures) wherever the records' stage put them: the
// first of the caches at cacheDirs (in order; one that does not exist is
// skipped, never created) that holds all of a payload's signatures, else
// the store OCP_SIGNATURE_URL names. Disk to mirror, ocm-unpack left them in
// a cache, so no network is needed; mirror to mirror, ocm-push cached none,
// so they come from the store even when a cache is given.
//
// With keys, each signature is verified against its payload's digest first:
// a cache can be filled by another path than the plan that verified it (a
// shared or copied cache, an edited record naming another blob). One that
// does not verify fails its payload's records (stage resources, naming the
// release, the signature and the fix), and none of that payload's
// signatures is returned.
//
// The store is reached only for signatures no cache holds, with the client
// hc makes then (the commands' registry.Client.HTTPClient).
func Pushed(ctx context.Context, recs []*record.Record, cacheDirs []string, keys *Keyring, hc func() (*http.Client, error)) (map[string][][]byte, error) {
	caches, err := openExisting(cacheDirs)
	if err != nil {
		return nil, err
	}
	var store *Store
	out := map[string][][]byte{}
	refused := map[string]error{} // payload digest -> why
	for _, r := range recs {
		if r.Status != record.StatusPushed || r.Origin != record.OriginRelease || len(r.Signatures) == 0 {
			continue
		}
		if why, ok := refused[r.Digest]; ok {
			r.Fail(ResourcesStage, why)
			continue
		}
		if out[r.Digest] != nil {
			continue
		}
		var b [][]byte
		for _, c := range caches {
			if b, err = Load(ctx, c, nil, r); err == nil {
				break
			} else if !errors.Is(err, ErrNotCached) {
				return nil, err
			}
		}
		if b == nil {
			if store == nil {
				if store, err = StoreFromEnv(); err != nil {
					return nil, err
				}
				if store.HTTP, err = hc(); err != nil {
					return nil, err
				}
			}
			if b, err = Load(ctx, nil, store, r); err != nil {
				return nil, err
			}
		}
		if why := verifyCarried(keys, r, b); why != nil {
			refused[r.Digest] = why
			r.Fail(ResourcesStage, why)
			continue
		}
		out[r.Digest] = b
	}
	return out, nil
}

// openExisting opens the caches of dirs that exist, each once.
func openExisting(dirs []string) ([]*cache.Cache, error) {
	var out []*cache.Cache
	seen := map[string]bool{}
	for _, d := range dirs {
		if d == "" || seen[filepath.Clean(d)] {
			continue
		}
		seen[filepath.Clean(d)] = true
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		c, err := cache.Open(d)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ResourcesStage names ocm-resources in the records it fails.
const ResourcesStage = "resources"

// verifyCarried checks sigs, the signatures r names in order, with keys
// (nil: no check).
func verifyCarried(keys *Keyring, r *record.Record, sigs [][]byte) error {
	if keys == nil {
		return nil
	}
	for i, b := range sigs {
		if _, err := keys.Verify(b, r.Digest); err != nil {
			return fmt.Errorf("release %s (%s): signature %s: %w; it is left out of the signature ConfigMap; fix: plan and fetch this release again so that its signatures come verified from %s, or set %s to the keyring ocm-plan verified them with",
				r.Release, r.Digest, r.Signatures[i].Digest, err, StoreEnv, KeysEnv)
		}
	}
	return nil
}
