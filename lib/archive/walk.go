package archive

import (
	"fmt"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
)

// RecordBlobs is ImageBlobs of the record's image plus the release
// signatures and the attachments (cosign signatures, attestations, SBOMs,
// referrers) the record names, each once: they travel and are checked like
// any blob, and the history skips those an earlier set carried.
func RecordBlobs(c *cache.Cache, r *record.Record) ([]Member, error) {
	members, err := ImageBlobs(c, r.Digest, r.MediaType)
	if err != nil {
		return nil, err
	}
	for _, s := range r.Signatures {
		members = append(members, Member{Digest: s.Digest, Size: s.Size})
	}
	seen := map[string]bool{}
	for _, m := range members {
		seen[m.Digest] = true
	}
	for _, a := range r.Attachments {
		ms, err := ImageBlobs(c, a.Digest, a.MediaType)
		if err != nil {
			return nil, fmt.Errorf("%s %s of %s: %w", a.Kind, a.Digest, a.Subject, err)
		}
		for _, m := range ms {
			if !seen[m.Digest] {
				seen[m.Digest] = true
				members = append(members, m)
			}
		}
	}
	return members, nil
}

// ImageBlobs lists every blob an image needs, manifests included, walking
// the image's manifests as stored in the cache. Layers and configs need not
// be cached (the caller decides what a missing one means); manifests must be.
func ImageBlobs(c *cache.Cache, digest, mediaType string) ([]Member, error) {
	var out []Member
	seen := map[string]bool{}
	var walk func(d, mt string, depth int) error
	walk = func(d, mt string, depth int) error {
		if seen[d] {
			return nil
		}
		if err := manifest.Nested(depth, d); err != nil {
			return err
		}
		seen[d] = true
		ok, size := c.Has(d)
		if !ok {
			return fmt.Errorf("manifest %s is not in the cache", d)
		}
		out = append(out, Member{Digest: d, Size: size})
		body, err := c.ReadBlob(d)
		if err != nil {
			return err
		}
		m, mt, err := manifest.Parse(body, mt)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d, err)
		}
		if manifest.IsIndex(mt) {
			for _, child := range m.Manifests {
				if err := walk(child.Digest, child.MediaType, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		for _, b := range m.Blobs() {
			if seen[b.Digest] {
				continue
			}
			seen[b.Digest] = true
			out = append(out, Member{Digest: b.Digest, Size: b.Size})
		}
		return nil
	}
	if err := walk(digest, mediaType, 0); err != nil {
		return nil, err
	}
	return out, nil
}
