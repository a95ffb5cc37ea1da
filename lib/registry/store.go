package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/store"
	"github.com/ocm-mirror/ocm/lib/verify"
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
	rc, got, err := r.Client.Blob(ctx, r.Name, digest)
	if err != nil {
		return nil, err
	}
	// A length other than the descriptor's is known before a byte is read.
	if size >= 0 && got >= 0 && got != size {
		rc.Close()
		return nil, fmt.Errorf("blob %s of %s: the registry serves %d bytes, the image's manifest gives %d: %w; fix: %s", digest, r.Name, got, size, verify.ErrMismatch, sourceFix)
	}
	return &sourceBlob{ReadCloser: rc, fix: sourceFix}, nil
}

// sourceFix is what to do about a source that serves a blob other than the
// one its manifest names: nothing ocm does will change what it serves.
const sourceFix = "the source registry serves content other than the image's manifest names (damaged or altered there): have the image pushed again at its source, or mirror it from a source that serves it intact"

// sourceBlob adds the fix to a verification error, and keeps telling what
// the stream verifies (so a cache need not hash it again).
type sourceBlob struct {
	io.ReadCloser
	fix string
}

func (b *sourceBlob) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, verify.ErrMismatch) {
		err = fmt.Errorf("%w; fix: %s", err, b.fix)
	}
	return n, err
}

func (b *sourceBlob) Verifies(digest string, size int64) bool {
	v, ok := b.ReadCloser.(verify.Verifier)
	return ok && v.Verifies(digest, size)
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
