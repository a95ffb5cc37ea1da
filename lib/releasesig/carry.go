package releasesig

import (
	"bytes"
	"context"
	"errors"
	"fmt"

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

// Pushed reads the signatures of every pushed release payload of recs
// (payload digest -> signatures): from the cache at cacheDir when one is
// given (disk to mirror: no network), else from the store OCP_SIGNATURE_URL
// names.
func Pushed(ctx context.Context, recs []*record.Record, cacheDir string) (map[string][][]byte, error) {
	var cch *cache.Cache
	var store *Store
	var err error
	if cacheDir != "" {
		if cch, err = cache.Open(cacheDir); err != nil {
			return nil, err
		}
	}
	out := map[string][][]byte{}
	for _, r := range recs {
		if r.Status != record.StatusPushed || r.Origin != record.OriginRelease || len(r.Signatures) == 0 || out[r.Digest] != nil {
			continue
		}
		if cch == nil && store == nil {
			if store, err = StoreFromEnv(); err != nil {
				return nil, err
			}
		}
		b, err := Load(ctx, cch, store, r)
		if err != nil {
			return nil, err
		}
		out[r.Digest] = b
	}
	return out, nil
}
