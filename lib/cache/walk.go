package cache

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/store"
)

// MissingError is returned when a manifest an image needs is not in the
// cache: callers name the digest (and where it should have come from)
// without reading the message.
type MissingError struct {
	Digest string
}

// Is makes a missing manifest match store.ErrNotFound.
func (e *MissingError) Is(target error) bool { return target == store.ErrNotFound }

func (e *MissingError) Error() string {
	return fmt.Sprintf("manifest %s is not in the cache", e.Digest)
}

// ManifestReader reads a manifest by digest; every store.Reader fits (the
// cache, an oci:// layout, a registry repository, an archive set).
type ManifestReader interface {
	Manifest(ctx context.Context, digest string) (body []byte, mediaType string, err error)
}

// Blobs is the one walk of an image's tree: every blob the image digest
// needs, manifests included, each once, its manifests read from src. Copy
// planning, shard grouping, packing and garbage collection all list an
// image through it. An index chain deeper than manifest.MaxNesting stops
// with manifest.ErrTooDeep, so a hostile source cannot make any of them
// recurse without bound. mediaType is what the record or index entry
// claims; "" takes what src says. Of the index digest, only the entries
// sel keeps are walked (nil: all): the others of a sparse copy are absent
// by design.
func Blobs(ctx context.Context, src ManifestReader, digest, mediaType string, sel manifest.Selection) ([]manifest.Descriptor, error) {
	var out []manifest.Descriptor
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
		body, got, err := src.Manifest(ctx, d)
		if err != nil {
			return err
		}
		if mt == "" {
			mt = got
		}
		m, mt, err := manifest.Parse(body, mt)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d, err)
		}
		out = append(out, manifest.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body))})
		if manifest.IsIndex(mt) {
			children := m.Manifests
			if depth == 0 {
				children = sel.Kept(m)
			}
			for _, child := range children {
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
			out = append(out, manifest.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
		}
		return nil
	}
	if err := walk(digest, mediaType, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// ImageBlobs is Blobs over the images stored in the cache. Layers and
// configs need not be cached (the caller decides what a missing one
// means); manifests must be: a missing one is a *MissingError.
func (c *Cache) ImageBlobs(digest, mediaType string) ([]manifest.Descriptor, error) {
	return c.SparseBlobs(digest, mediaType, nil)
}

// SparseBlobs is ImageBlobs of a sparse copy: of the index digest, only the
// entries sel keeps (nil: all).
func (c *Cache) SparseBlobs(digest, mediaType string, sel manifest.Selection) ([]manifest.Descriptor, error) {
	return Blobs(context.Background(), cachedManifests{c}, digest, mediaType, sel)
}

// cachedManifests reads the cache's manifests, a missing one as a
// *MissingError.
type cachedManifests struct{ c *Cache }

func (m cachedManifests) Manifest(ctx context.Context, digest string) ([]byte, string, error) {
	if ok, _ := m.c.Has(digest); !ok {
		return nil, "", &MissingError{Digest: digest}
	}
	return m.c.Manifest(ctx, digest)
}

// Forget removes the images named refs from the cache: their index.json
// entries, and every blob of theirs that no remaining named image uses. It
// returns the blobs removed and their bytes.
func (c *Cache) Forget(refs []string) (int, int64, error) {
	named, err := c.Refs()
	if err != nil {
		return 0, 0, err
	}
	gone := map[string]bool{}
	for _, s := range refs {
		gone[s] = true
	}
	used := map[string]bool{}
	var candidates []manifest.Descriptor
	for _, d := range named {
		members, err := c.ImageBlobs(d.Digest, d.MediaType)
		if err != nil {
			continue // an incomplete image keeps nothing alive
		}
		if gone[d.Annotations[RefAnnotation]] {
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

// DropDamaged checks an image the cache already holds before a copy takes
// it for complete (its manifest is cached, so the copy would look no
// further): every blob must be there with the size its manifest gives, and
// every manifest must match its digest (manifests are small: read whole).
// A blob missing or of the wrong size is removed with the manifests above
// it, so the copy that follows fetches them again. It returns what it
// removed. Layers are size-checked, not hashed: hashing every cached byte
// would make each rerun read the whole cache; ocm-pack hashes what it packs
// and removes a damaged blob for the next fetch. With hashed (ocm-fetch
// --verify), config and layers are hashed too, and one changed in place
// (same size) is removed like one cut short.
// sel is the record's selection: the entries of a sparse index it does not
// keep are absent by design, not damage.
func (c *Cache) DropDamaged(digest, mediaType string, size int64, sel manifest.Selection, hashed *Hashed) ([]string, error) {
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
	var walk func(d, mt string, size int64, sel manifest.Selection) (bool, error)
	walk = func(d, mt string, size int64, sel manifest.Selection) (bool, error) {
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
			for _, child := range sel.Kept(m) {
				gone, err := walk(child.Digest, child.MediaType, child.Size, nil)
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
				case got != b.Size || !hashed.whole(c, b.Digest):
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
	if _, err := walk(digest, mediaType, size, sel); err != nil {
		return removed, fmt.Errorf("removing damaged blobs from the cache: %w", err)
	}
	return removed, nil
}

// Hashed remembers the blobs DropDamaged hashed and found whole, so that
// images sharing a layer have it read once per run. A nil *Hashed hashes
// nothing: sizes only.
type Hashed struct{ ok sync.Map }

// whole reports whether blob d matches its digest (always, for a nil h).
// A blob that cannot be read counts as damaged: it is fetched again.
func (h *Hashed) whole(c *Cache, d string) bool {
	if h == nil {
		return true
	}
	if _, ok := h.ok.Load(d); ok {
		return true
	}
	rc, _, err := c.Open(d)
	if err != nil {
		return false
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return false
	}
	h.ok.Store(d, true)
	return true
}
