// Package store names the one interface every place images live implements:
// a registry repository (lib/registry), the local cache and any OCI image
// layout (lib/cache), and an archive set being unpacked (lib/archive). The
// copy engine (lib/copier) moves an image between any two of them, so each
// direction (registry to registry, registry to cache, cache to registry,
// archive to cache) is the same call.
//
// Digests are "sha256:<hex>" strings, checked with verify.ValidDigest where
// they enter from outside; descriptors are manifest.Descriptor.
package store

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is matched (errors.Is) by every implementation's error for a
// manifest or blob the store does not hold.
var ErrNotFound = errors.New("not found")

// Reader reads content by digest. Everything it returns is verified against
// the digest asked for: manifests before they are returned, blobs as they
// are read (the reader fails at EOF on a mismatch).
type Reader interface {
	// String names the store in messages.
	String() string
	// Manifest returns a manifest or index and its media type.
	Manifest(ctx context.Context, digest string) (body []byte, mediaType string, err error)
	// Blob opens a blob; size is the descriptor's size (-1: unknown).
	Blob(ctx context.Context, digest string, size int64) (io.ReadCloser, error)
}

// Writer is where images are written. Manifests are written only after the
// content they point to, so a manifest present means a whole image.
type Writer interface {
	// String names the store in messages.
	String() string
	// Scope identifies the blob namespace: a blob written once to a scope
	// can be reused (or mounted) by every image written to the same scope.
	Scope() string
	// Repo is the repository within the scope ("" for a layout).
	Repo() string
	HasManifest(ctx context.Context, digest string) (bool, error)
	// TagIs reports whether tag already names digest.
	TagIs(ctx context.Context, tag, digest string) (bool, error)
	HasBlob(ctx context.Context, digest string) (bool, error)
	// Mount links a blob from another repository of the scope; false: declined.
	Mount(ctx context.Context, digest, fromRepo string) (bool, error)
	// PutBlob writes a blob read from open, which it may call again to
	// resume or retry; it returns the bytes read. The blob is verified
	// against digest and size before it is visible.
	PutBlob(ctx context.Context, digest string, size int64, open func() (io.ReadCloser, error)) (int64, error)
	// PutManifest writes a manifest under ref: a tag names it too, a digest
	// stores it by digest only.
	PutManifest(ctx context.Context, ref string, body []byte, mediaType string) error
}

// Store both reads and writes.
type Store interface {
	Reader
	Writer
}
