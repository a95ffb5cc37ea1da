package archive

import (
	"fmt"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
)

// RecordBlobs is the blobs of the record's image (cache.ImageBlobs) plus
// the release signatures and the attachments (cosign signatures,
// attestations, SBOMs, referrers) the record names, each once: they travel
// and are checked like any blob, and the history skips those an earlier set
// carried. A missing manifest is a *cache.MissingError.
func RecordBlobs(c *cache.Cache, r *record.Record) ([]Member, error) {
	blobs, err := c.SparseBlobs(r.Digest, r.MediaType, r.Selection())
	if err != nil {
		return nil, err
	}
	members := toMembers(blobs, nil)
	for _, s := range r.Signatures {
		members = append(members, Member{Digest: s.Digest, Size: s.Size})
	}
	seen := map[string]bool{}
	for _, m := range members {
		seen[m.Digest] = true
	}
	for _, a := range r.Attachments {
		blobs, err := c.ImageBlobs(a.Digest, a.MediaType)
		if err != nil {
			return nil, fmt.Errorf("%s %s of %s: %w", a.Kind, a.Digest, a.Subject, err)
		}
		members = append(members, toMembers(blobs, seen)...)
	}
	return members, nil
}

// toMembers turns descriptors into archive members, skipping (and then
// marking) those seen; seen nil keeps all.
func toMembers(ds []manifest.Descriptor, seen map[string]bool) []Member {
	var out []Member
	for _, d := range ds {
		if seen != nil {
			if seen[d.Digest] {
				continue
			}
			seen[d.Digest] = true
		}
		out = append(out, Member{Digest: d.Digest, Size: d.Size})
	}
	return out
}
