package copier

import (
	"context"
	"io"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// Source is where an image's manifests and blobs are read from.
type Source interface {
	String() string
	// Manifest returns a manifest by digest (verified) and its media type.
	Manifest(ctx context.Context, digest string) (body []byte, mediaType string, err error)
	// Blob opens a blob; the reader fails at EOF if the content does not match.
	Blob(ctx context.Context, digest string, size int64) (io.ReadCloser, error)
}

// Dest is where an image is written.
type Dest interface {
	String() string
	// Scope identifies the blob namespace: blobs copied once to a scope can be
	// reused (or mounted) by every image written to the same scope.
	Scope() string
	// Repo is the repository within the scope ("" for a cache).
	Repo() string
	HasManifest(ctx context.Context, digest string) (bool, error)
	// TagIs reports whether tag already names digest.
	TagIs(ctx context.Context, tag, digest string) (bool, error)
	HasBlob(ctx context.Context, digest string) (bool, error)
	// Mount links a blob from another repository of the scope; false: declined.
	Mount(ctx context.Context, digest, fromRepo string) (bool, error)
	// PutBlob writes a blob read from open, which it may call again to
	// retry; it returns the bytes read.
	PutBlob(ctx context.Context, digest string, size int64, open func() (io.ReadCloser, error)) (int64, error)
	PutManifest(ctx context.Context, ref string, body []byte, mediaType string) error
}

// RemoteSource reads from a registry repository.
type RemoteSource struct {
	Client *registry.Client
	Repo   name.Repository
}

func (s *RemoteSource) String() string { return s.Repo.String() }

func (s *RemoteSource) Manifest(ctx context.Context, digest string) ([]byte, string, error) {
	b, mt, _, err := s.Client.Manifest(ctx, s.Repo, digest)
	return b, mt, err
}

func (s *RemoteSource) Blob(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	rc, _, err := s.Client.Blob(ctx, s.Repo, digest)
	return rc, err
}

// CacheSource reads from the local cache.
type CacheSource struct{ Cache *cache.Cache }

func (s *CacheSource) String() string { return "cache " + s.Cache.Dir }

func (s *CacheSource) Manifest(ctx context.Context, digest string) ([]byte, string, error) {
	b, err := s.Cache.ReadBlob(digest)
	if err != nil {
		return nil, "", err
	}
	return b, manifest.Sniff(b), nil
}

func (s *CacheSource) Blob(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	rc, _, err := s.Cache.Open(digest)
	return rc, err
}

// RemoteDest writes to a registry repository.
type RemoteDest struct {
	Client *registry.Client
	R      name.Repository
}

func (d *RemoteDest) String() string { return d.R.String() }
func (d *RemoteDest) Scope() string  { return "registry " + d.R.RegistryStr() }
func (d *RemoteDest) Repo() string   { return d.R.RepositoryStr() }

func (d *RemoteDest) HasManifest(ctx context.Context, digest string) (bool, error) {
	_, ok, err := d.Client.HeadManifest(ctx, d.R, digest)
	return ok, err
}

func (d *RemoteDest) TagIs(ctx context.Context, tag, digest string) (bool, error) {
	desc, ok, err := d.Client.HeadManifest(ctx, d.R, tag)
	return ok && desc.Digest == digest, err
}

func (d *RemoteDest) HasBlob(ctx context.Context, digest string) (bool, error) {
	return d.Client.HasBlob(ctx, d.R, digest, true)
}

func (d *RemoteDest) Mount(ctx context.Context, digest, from string) (bool, error) {
	ok, _, err := d.Client.Mount(ctx, d.R, digest, from)
	return ok, err
}

func (d *RemoteDest) PutBlob(ctx context.Context, digest string, size int64, open func() (io.ReadCloser, error)) (int64, error) {
	return d.Client.Upload(ctx, d.R, digest, size, open, "")
}

func (d *RemoteDest) PutManifest(ctx context.Context, ref string, body []byte, mt string) error {
	return d.Client.PutManifest(ctx, d.R, ref, body, mt)
}

// CacheDest writes into the local cache and names the image Ref in index.json.
type CacheDest struct {
	Cache *cache.Cache
	Ref   string
}

func (d *CacheDest) String() string { return "cache " + d.Cache.Dir }
func (d *CacheDest) Scope() string  { return "cache " + d.Cache.Dir }
func (d *CacheDest) Repo() string   { return "" }

func (d *CacheDest) HasManifest(ctx context.Context, digest string) (bool, error) {
	ok, _ := d.Cache.Has(digest)
	return ok, nil
}

func (d *CacheDest) TagIs(ctx context.Context, tag, digest string) (bool, error) {
	desc, ok, err := d.Cache.Lookup(tag)
	if err != nil || !ok || desc.Digest != digest {
		return false, err
	}
	has, _ := d.Cache.Has(digest)
	return has, nil
}

func (d *CacheDest) HasBlob(ctx context.Context, digest string) (bool, error) {
	ok, _ := d.Cache.Has(digest)
	return ok, nil
}

func (d *CacheDest) Mount(ctx context.Context, digest, from string) (bool, error) {
	return d.HasBlob(ctx, digest)
}

func (d *CacheDest) PutBlob(ctx context.Context, digest string, size int64, open func() (io.ReadCloser, error)) (int64, error) {
	rc, err := open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return d.Cache.Put(ctx, digest, size, rc)
}

// PutManifest stores the manifest blob; a tag (anything not a digest) names
// it in index.json.
func (d *CacheDest) PutManifest(ctx context.Context, ref string, body []byte, mt string) error {
	dg, err := d.Cache.PutBytes(ctx, body)
	if err != nil {
		return err
	}
	if ref == dg {
		return nil
	}
	return d.Cache.Tag(ref, cache.Descriptor{MediaType: mt, Digest: dg, Size: int64(len(body))})
}
