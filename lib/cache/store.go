package cache

import (
	"context"
	"io"

	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/store"
)

// A Cache is the layout's store.Store: one scope, no repositories; a tag is
// an index.json name (any reference string, as ocm names images there).
var _ store.Store = (*Cache)(nil)

func (c *Cache) String() string { return "cache " + c.Dir }
func (c *Cache) Scope() string  { return "cache " + c.Dir }
func (c *Cache) Repo() string   { return "" }

// Manifest reads a manifest; its media type is read from its body (a layout
// keeps no other record of it for untagged manifests).
func (c *Cache) Manifest(ctx context.Context, digest string) ([]byte, string, error) {
	b, err := c.ReadBlob(digest)
	if err != nil {
		return nil, "", err
	}
	return b, manifest.Sniff(b), nil
}

func (c *Cache) Blob(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	rc, _, err := c.Open(digest)
	return rc, err
}

func (c *Cache) HasManifest(ctx context.Context, digest string) (bool, error) {
	ok, _ := c.Has(digest)
	return ok, nil
}

func (c *Cache) TagIs(ctx context.Context, tag, digest string) (bool, error) {
	d, ok, err := c.Lookup(tag)
	if err != nil || !ok || d.Digest != digest {
		return false, err
	}
	has, _ := c.Has(digest)
	return has, nil
}

func (c *Cache) HasBlob(ctx context.Context, digest string) (bool, error) {
	ok, _ := c.Has(digest)
	return ok, nil
}

// Mount: a layout has one scope, so a blob is either here or not.
func (c *Cache) Mount(ctx context.Context, digest, from string) (bool, error) {
	return c.HasBlob(ctx, digest)
}

func (c *Cache) PutBlob(ctx context.Context, digest string, size int64, open func() (io.ReadCloser, error)) (int64, error) {
	rc, err := open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return c.Put(ctx, digest, size, rc)
}

func (c *Cache) PutManifest(ctx context.Context, ref string, body []byte, mt string) error {
	dg, err := c.PutBytes(ctx, body)
	if err != nil {
		return err
	}
	if ref == dg {
		return nil
	}
	return c.Tag(ref, manifest.Descriptor{MediaType: mt, Digest: dg, Size: int64(len(body))})
}
