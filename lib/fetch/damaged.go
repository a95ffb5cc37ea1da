package fetch

import (
	"fmt"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/manifest"
)

// dropDamaged checks an image the cache already holds before the copy
// takes it for complete (its manifest is cached, so the copy would look no
// further): every blob must be there with the size its manifest gives, and
// every manifest must match its digest (manifests are small: read whole).
// A blob missing or of the wrong size is removed with the manifests above
// it, so the copy that follows fetches them again. It returns what it
// removed. Layers are size-checked, not hashed: hashing every cached byte
// would make each rerun read the whole cache; ocm-pack hashes what it packs
// and removes a damaged blob for the next fetch.
func dropDamaged(c *cache.Cache, digest, mediaType string, size int64) ([]string, error) {
	var removed []string
	drop := func(d string) error {
		if err := c.Remove(d); err != nil {
			return err
		}
		removed = append(removed, d)
		return nil
	}
	seen := map[string]bool{}
	// walk tells whether the manifest d had to go.
	var walk func(d, mt string, size int64) (bool, error)
	walk = func(d, mt string, size int64) (bool, error) {
		ok, got := c.Has(d)
		if !ok {
			return true, nil // the copy fetches it; what names it must go too
		}
		if seen[d] {
			return false, nil
		}
		seen[d] = true
		body, err := c.ReadBlob(d)
		if err != nil || (size > 0 && got != size) {
			return true, drop(d)
		}
		m, mt, err := manifest.Parse(body, mt)
		if err != nil {
			return false, nil // the copy reports a bad manifest
		}
		bad := false
		if manifest.IsIndex(mt) {
			for _, child := range m.Manifests {
				gone, err := walk(child.Digest, child.MediaType, child.Size)
				if err != nil {
					return false, err
				}
				bad = bad || gone
			}
		} else {
			for _, b := range m.Blobs() {
				ok, got := c.Has(b.Digest)
				switch {
				case !ok:
					bad = true
				case got != b.Size:
					bad = true
					if err := drop(b.Digest); err != nil {
						return false, err
					}
				}
			}
		}
		if bad {
			return true, drop(d)
		}
		return false, nil
	}
	if ok, _ := c.Has(digest); !ok {
		return nil, nil // not cached yet: nothing to check
	}
	if _, err := walk(digest, mediaType, size); err != nil {
		return removed, fmt.Errorf("removing damaged blobs from the cache: %w", err)
	}
	return removed, nil
}
