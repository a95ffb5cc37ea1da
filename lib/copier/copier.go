// Package copier copies images (manifests, indexes and their blobs) from a
// store.Reader to a store.Writer. One Engine serves a whole run: it bounds how many blobs
// move at once, moves each blob once per destination even when many images
// share it (later images wait for it, then mount or reuse it), skips what the
// destination already holds and counts it all. Retries are the registry
// client's, per request, so that none is multiplied by a loop here.
package copier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/store"
	"github.com/ocm-mirror/ocm/lib/workpool"
)

// Stats count what a run did. All fields are updated atomically.
type Stats struct {
	BytesMoved     atomic.Int64 // blob bytes actually transferred
	BlobsCopied    atomic.Int64 // blobs transferred
	BlobsMounted   atomic.Int64 // blobs linked from another repository of the destination
	BlobsExisting  atomic.Int64 // blobs the destination already had
	BlobsShared    atomic.Int64 // blobs another image of this run had just moved
	Manifests      atomic.Int64 // manifests written
	ImagesUpToDate atomic.Int64 // images already complete at the destination
	Retries        atomic.Int64 // requests retried (counted by the registry clients)
	Stalls         atomic.Int64 // requests that stalled past the idle timeout (retried)
	Attachments    atomic.Int64 // signatures, attestations, SBOMs, referrers found with the images
	AttachedCopied atomic.Int64 // of those, copied in this run (the others were there already)
}

// Engine copies images. Create one per run with New.
type Engine struct {
	Stats Stats

	sem  chan struct{}
	logf func(string, ...any)

	mu      sync.Mutex
	blobs   map[string]*blobState // scope + digest: the first transfer
	placing map[string]*flight    // scope + repo + digest: making a blob or manifest present there
}

// flight is one in-progress operation others wait for.
type flight struct {
	done chan struct{}
	err  error
}

type blobState struct {
	done chan struct{}
	err  error
	repo string // a repository of the scope that holds the blob
}

// Options for New.
type Options struct {
	BlobWorkers int // blobs in flight at once across all images (default 8)
	Logf        func(string, ...any)
}

// New returns an Engine.
func New(o Options) *Engine {
	if o.BlobWorkers <= 0 {
		o.BlobWorkers = 8
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return &Engine{sem: make(chan struct{}, o.BlobWorkers), logf: o.Logf, blobs: map[string]*blobState{}, placing: map[string]*flight{}}
}

// Result describes one copied image.
type Result struct {
	Digest    string
	MediaType string
	Size      int64
	Platforms []string
	UpToDate  bool // nothing needed copying
}

// Copy copies the image digest (manifest or index, with every child and blob)
// from src to dst and then names it tag at dst ("" = by digest only).
func (e *Engine) Copy(ctx context.Context, src store.Reader, digest string, dst store.Writer, tag string) (*Result, error) {
	return e.CopySparse(ctx, src, digest, dst, tag, nil)
}

// SparseRefusedError is a destination refusing a sparse index (one naming
// manifests it lacks), after the retries a raced write gets.
type SparseRefusedError struct {
	Digest string
	Dest   string
	Err    error
}

func (e *SparseRefusedError) Error() string {
	// Not Err's text: it calls the answer a race to rerun, which it is not.
	return fmt.Sprintf("%s refused the sparse index %s: it answers MANIFEST_BLOB_UNKNOWN for an index naming manifests it lacks (the platforms not copied); fix: let the registry hold sparse indexes (distribution 3: validation.manifests.indexes.platforms: none; Quay: sparse manifest support), or plan with --no-sparse to copy every platform", e.Dest, e.Digest)
}

func (e *SparseRefusedError) Unwrap() error { return e.Err }

// CopySparse is Copy keeping, of an index digest, only the entries sel
// keeps (nil: all): the index is written unchanged, so its digest is the
// source's, and the other entries' manifests and blobs are not copied.
// The selection applies to the top index only.
func (e *Engine) CopySparse(ctx context.Context, src store.Reader, digest string, dst store.Writer, tag string, sel manifest.Selection) (*Result, error) {
	// A tag naming the digest implies the manifest; one request either way.
	var has bool
	var err error
	if tag != "" {
		if has, err = dst.TagIs(ctx, tag, digest); err != nil {
			return nil, fmt.Errorf("checking tag %s at %s: %w", tag, dst, err)
		}
	} else if has, err = dst.HasManifest(ctx, digest); err != nil {
		return nil, fmt.Errorf("checking %s at %s: %w", digest, dst, err)
	}
	// Manifests are written only after everything they point to, so a
	// manifest at the destination means the whole image is there.
	if has {
		e.Stats.ImagesUpToDate.Add(1)
		return &Result{Digest: digest, UpToDate: true}, nil
	}
	body, mt, err := src.Manifest(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s from %s: %w", digest, src, err)
	}
	m, mt, err := manifest.Parse(body, mt)
	if err != nil {
		return nil, fmt.Errorf("manifest %s from %s: %w", digest, src, err)
	}
	// Written once, under its tag when it has one: a PUT by tag stores the
	// manifest by digest too.
	ref := digest
	if tag != "" {
		ref = tag
	}
	if !manifest.IsIndex(mt) {
		sel = nil
	}
	if err := e.placeManifest(ctx, src, dst, digest, ref, body, mt, m, sel, 0); err != nil {
		// distribution answers MANIFEST_BLOB_UNKNOWN, as when a write
		// races, for an index naming absent manifests: after the retries
		// a sparse index refused so says why.
		if sel != nil && errors.Is(err, registry.ErrConcurrentWrite) {
			return nil, &SparseRefusedError{Digest: digest, Dest: dst.String(), Err: err}
		}
		return nil, err
	}
	return &Result{Digest: digest, MediaType: mt, Size: int64(len(body)), Platforms: m.Platforms()}, nil
}

// placeManifest copies manifest digest (what it points to, then itself)
// to dst under ref, once per repository and run: concurrent copies of one
// digest into one repository (an index under two tags, a platform manifest
// two indexes share) wait for the first, then only write their tag. A
// registry writing one manifest twice at once answers 400 DIGEST_INVALID
// or MANIFEST_BLOB_UNKNOWN now and then.
func (e *Engine) placeManifest(ctx context.Context, src store.Reader, dst store.Writer, digest, ref string, body []byte, mt string, m *manifest.Manifest, sel manifest.Selection, depth int) error {
	key := "manifest " + dst.Scope() + " " + dst.Repo() + " " + digest
	if sel != nil {
		// A sparse copy does not make the whole image present.
		key += " sparse " + strings.Join(slices.Sorted(maps.Keys(sel)), ",")
	}
	return e.once(ctx, key, func() error {
		return e.copyManifest(ctx, src, dst, digest, ref, body, mt, m, sel, depth)
	}, func() error {
		if ref == digest {
			return nil
		}
		if err := e.putManifest(ctx, dst, ref, body, mt); err != nil {
			return fmt.Errorf("writing manifest %s to %s as %s: %w", digest, dst, ref, err)
		}
		return nil
	})
}

// copyManifest copies what m (digest) points to, then m itself under ref.
func (e *Engine) copyManifest(ctx context.Context, src store.Reader, dst store.Writer, digest, ref string, body []byte, mt string, m *manifest.Manifest, sel manifest.Selection, depth int) error {
	if manifest.IsIndex(mt) {
		if err := manifest.Nested(depth+1, digest); err != nil {
			return err
		}
		children := sel.Kept(m)
		if len(children) == 0 && len(m.Manifests) > 0 {
			return fmt.Errorf("index %s has none of the platforms %s (it has %s); fix: choose among its platforms", digest, strings.Join(slices.Sorted(maps.Keys(sel)), ", "), strings.Join(m.Platforms(), ", "))
		}
		// Unbounded here: blob transfers are bounded by the engine's
		// semaphore.
		err := workpool.Run(ctx, len(children), 0, func(ctx context.Context, i int) error {
			child := children[i]
			if has, err := dst.HasManifest(ctx, child.Digest); err != nil {
				return err
			} else if has {
				return nil
			}
			cb, cmt, err := src.Manifest(ctx, child.Digest)
			if err != nil {
				return fmt.Errorf("reading %s manifest %s from %s: %w", child.Platform, child.Digest, src, err)
			}
			if child.MediaType != "" {
				cmt = child.MediaType
			}
			cm, cmt, err := manifest.Parse(cb, cmt)
			if err != nil {
				return fmt.Errorf("manifest %s: %w", child.Digest, err)
			}
			return e.placeManifest(ctx, src, dst, child.Digest, child.Digest, cb, cmt, cm, nil, depth+1)
		})
		if err != nil {
			return err
		}
	} else {
		blobs := m.Blobs()
		err := workpool.Run(ctx, len(blobs), 0, func(ctx context.Context, i int) error {
			return e.copyBlob(ctx, src, dst, blobs[i])
		})
		if err != nil {
			return err
		}
	}
	if err := e.putManifest(ctx, dst, ref, body, mt); err != nil {
		return fmt.Errorf("writing manifest %s to %s as %s: %w", digest, dst, ref, err)
	}
	return nil
}

// putManifest writes a manifest; the destination retries the request.
func (e *Engine) putManifest(ctx context.Context, dst store.Writer, ref string, body []byte, mt string) error {
	err := dst.PutManifest(ctx, ref, body, mt)
	if err == nil {
		e.Stats.Manifests.Add(1)
	}
	return err
}

// copyBlob makes the blob present in dst's repository, once per run: images
// and index children sharing a blob in one repository wait for the first
// (concurrent mounts of one blob into one repository race inside some
// registries, which rewrite the link non-atomically).
func (e *Engine) copyBlob(ctx context.Context, src store.Reader, dst store.Writer, d manifest.Descriptor) error {
	key := dst.Scope() + " " + dst.Repo() + " " + d.Digest
	return e.once(ctx, key, func() error { return e.placeBlob(ctx, src, dst, d) }, func() error {
		e.Stats.BlobsShared.Add(1)
		return nil
	})
}

// once runs first for the first caller of key in this run; later callers
// wait for it and then run after (what is left once the work is done). If
// the first failed, a waiter runs first itself, and a failed key is
// forgotten so that a later caller tries again.
func (e *Engine) once(ctx context.Context, key string, first, after func() error) error {
	e.mu.Lock()
	fl, busy := e.placing[key]
	if !busy {
		fl = &flight{done: make(chan struct{})}
		e.placing[key] = fl
	}
	e.mu.Unlock()
	if busy {
		select {
		case <-fl.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if fl.err != nil {
			return first() // the first try failed: try ourselves
		}
		return after()
	}
	fl.err = first()
	close(fl.done)
	if fl.err != nil {
		e.mu.Lock()
		delete(e.placing, key)
		e.mu.Unlock()
	}
	return fl.err
}

// placeBlob moves one blob unless the destination scope has it or another
// image of this run is moving it; in those cases it waits and mounts.
func (e *Engine) placeBlob(ctx context.Context, src store.Reader, dst store.Writer, d manifest.Descriptor) error {
	key := dst.Scope() + " " + d.Digest
	e.mu.Lock()
	st, busy := e.blobs[key]
	if !busy {
		st = &blobState{done: make(chan struct{})}
		e.blobs[key] = st
	}
	e.mu.Unlock()

	if busy {
		select {
		case <-st.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if st.err == nil {
			if st.repo == dst.Repo() {
				e.Stats.BlobsShared.Add(1)
				return nil
			}
			ok, err := dst.Mount(ctx, d.Digest, st.repo)
			if err == nil && ok {
				e.Stats.BlobsMounted.Add(1)
				return nil
			}
			if err != nil {
				e.logf("mounting %s from %s into %s: %v (uploading instead)", d.Digest, st.repo, dst, err)
			}
		}
		// The first copy failed or the mount was declined: move it ourselves.
		_, err := e.transfer(ctx, src, dst, d)
		return err
	}

	repo, err := e.transfer(ctx, src, dst, d)
	st.err, st.repo = err, repo
	close(st.done)
	if err != nil {
		// Forget the failure so a later image may try again.
		e.mu.Lock()
		delete(e.blobs, key)
		e.mu.Unlock()
	}
	return err
}

// transfer copies the blob unless dst has it already; it returns the
// repository now holding it.
func (e *Engine) transfer(ctx context.Context, src store.Reader, dst store.Writer, d manifest.Descriptor) (string, error) {
	has, err := dst.HasBlob(ctx, d.Digest)
	if err != nil {
		return "", fmt.Errorf("checking blob %s at %s: %w", d.Digest, dst, err)
	}
	if has {
		e.Stats.BlobsExisting.Add(1)
		return dst.Repo(), nil
	}
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-e.sem }()
	// Retries happen below, per request: the source resumes a cut stream,
	// the destination reopens the source for each try of an upload.
	n, err := dst.PutBlob(ctx, d.Digest, d.Size, func() (io.ReadCloser, error) {
		return src.Blob(ctx, d.Digest, d.Size)
	})
	e.Stats.BytesMoved.Add(n)
	if err != nil {
		return "", fmt.Errorf("copying blob %s from %s to %s: %w", d.Digest, src, dst, err)
	}
	e.Stats.BlobsCopied.Add(1)
	return dst.Repo(), nil
}
