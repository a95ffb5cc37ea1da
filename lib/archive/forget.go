package archive

import (
	"os"

	"github.com/ocm-mirror/ocm/lib/cache"
)

// Forget removes the images named sources from the cache: their index.json
// entries, and every blob of theirs that no remaining named image uses. It
// returns the blobs removed and their bytes.
func Forget(c *cache.Cache, sources []string) (int, int64, error) {
	refs, err := c.Refs()
	if err != nil {
		return 0, 0, err
	}
	gone := map[string]bool{}
	for _, s := range sources {
		gone[s] = true
	}
	used := map[string]bool{}
	var candidates []Member
	for _, d := range refs {
		name := d.Annotations[cache.RefAnnotation]
		members, err := ImageBlobs(c, d.Digest, d.MediaType)
		if err != nil {
			continue // an incomplete image keeps nothing alive
		}
		if gone[name] {
			candidates = append(candidates, members...)
			continue
		}
		for _, m := range members {
			used[m.Digest] = true
		}
	}
	for s := range gone {
		if err := c.Untag(s); err != nil {
			return 0, 0, err
		}
	}
	n, freed := 0, int64(0)
	done := map[string]bool{}
	for _, m := range candidates {
		if used[m.Digest] || done[m.Digest] {
			continue
		}
		done[m.Digest] = true
		if ok, size := c.Has(m.Digest); ok {
			if err := os.Remove(c.BlobPath(m.Digest)); err != nil {
				return n, freed, err
			}
			n++
			freed += size
		}
	}
	return n, freed, nil
}
