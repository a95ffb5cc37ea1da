package registry

import (
	"context"
	"io"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/store"
)

// Repo is one repository reached through a Client: the registry's
// store.Store. Reads go through the client's registries.conf mirrors.
type Repo struct {
	Client *Client
	Name   name.Repository
}

var _ store.Store = (*Repo)(nil)

func (r *Repo) String() string { return r.Name.String() }
func (r *Repo) Scope() string  { return "registry " + r.Name.RegistryStr() }
func (r *Repo) Repo() string   { return r.Name.RepositoryStr() }

func (r *Repo) Manifest(ctx context.Context, digest string) ([]byte, string, error) {
	b, mt, _, err := r.Client.Manifest(ctx, r.Name, digest)
	return b, mt, err
}

func (r *Repo) Blob(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	rc, _, err := r.Client.Blob(ctx, r.Name, digest)
	return rc, err
}

func (r *Repo) HasManifest(ctx context.Context, digest string) (bool, error) {
	_, ok, err := r.Client.HeadManifest(ctx, r.Name, digest)
	return ok, err
}

func (r *Repo) TagIs(ctx context.Context, tag, digest string) (bool, error) {
	d, ok, err := r.Client.HeadManifest(ctx, r.Name, tag)
	return ok && d.Digest == digest, err
}

func (r *Repo) HasBlob(ctx context.Context, digest string) (bool, error) {
	return r.Client.HasBlob(ctx, r.Name, digest, true)
}

func (r *Repo) Mount(ctx context.Context, digest, from string) (bool, error) {
	ok, _, err := r.Client.Mount(ctx, r.Name, digest, from)
	return ok, err
}

func (r *Repo) PutBlob(ctx context.Context, digest string, size int64, open func() (io.ReadCloser, error)) (int64, error) {
	return r.Client.Upload(ctx, r.Name, digest, size, open, "")
}

func (r *Repo) PutManifest(ctx context.Context, ref string, body []byte, mt string) error {
	return r.Client.PutManifest(ctx, r.Name, ref, body, mt)
}
