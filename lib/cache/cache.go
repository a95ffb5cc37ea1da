// Package cache is ocm's local content store: a directory laid out as an OCI
// image layout (oci-layout, index.json, blobs/sha256/...), so standard tools
// (skopeo inspect oci:DIR:REF) can read it. Blobs are content-addressed and
// written atomically; index.json is updated under a file lock, so several
// processes may fill one cache at once.
package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/store"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// RefAnnotation names an image in index.json (OCI image layout convention).
const RefAnnotation = "org.opencontainers.image.ref.name"

// Cache is an OCI image layout directory.
type Cache struct {
	Dir string
}

type index struct {
	SchemaVersion int                   `json:"schemaVersion"`
	MediaType     string                `json:"mediaType,omitempty"`
	Manifests     []manifest.Descriptor `json:"manifests"`
}

// Open opens dir as a cache, creating the layout when the directory is new
// or empty. A directory holding something else is refused.
func Open(dir string) (*Cache, error) {
	c := &Cache{Dir: dir}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	layout := filepath.Join(dir, "oci-layout")
	b, err := readRegular(layout, capread.Config)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := atomicfile.WriteFile(layout, []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
			return nil, fmt.Errorf("cache %s: %w", dir, err)
		}
	case err != nil:
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	default:
		var l struct {
			V string `json:"imageLayoutVersion"`
		}
		if json.Unmarshal(b, &l) != nil || l.V == "" {
			return nil, fmt.Errorf("cache %s: oci-layout is not an OCI image layout marker; fix: point --cache at an empty directory or an ocm cache", dir)
		}
		// OCI image layout 1.x is what ocm writes and reads; another
		// major version may lay blobs out differently.
		if !strings.HasPrefix(l.V, "1.") {
			return nil, fmt.Errorf("cache %s: oci-layout says imageLayoutVersion %q, this ocm reads 1.x only; fix: point --cache at an empty directory or an ocm cache", dir, l.V)
		}
	}
	if _, err := os.Stat(c.indexPath()); errors.Is(err, fs.ErrNotExist) {
		err = c.withLock(func() error {
			if _, err := os.Stat(c.indexPath()); err == nil {
				return nil
			}
			return c.writeIndex(&index{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json", Manifests: []manifest.Descriptor{}})
		})
		if err != nil {
			return nil, fmt.Errorf("cache %s: %w", dir, err)
		}
	}
	// Temp files of killed writers would stay forever: no rerun writes
	// under their random names. Those of live writers (other stages on
	// this cache) are locked, and kept.
	err = c.withLock(func() error {
		for _, d := range []string{dir, filepath.Join(dir, "blobs", "sha256")} {
			if _, err := atomicfile.CleanStale(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache %s: removing temp files of killed runs: %w", dir, err)
	}
	return c, nil
}

// readRegular reads a layout's own file (oci-layout, index.json), capped; as
// for blobs, only a regular file is read, and a named pipe is refused
// rather than waited on.
func readRegular(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file; fix: point at an OCI image layout whose files are regular files", path, fileKind(fi.Mode()))
	}
	if fi.Size() > max {
		return nil, &capread.TooLargeError{Name: path, Cap: max}
	}
	return capread.All(f, path, max)
}

func (c *Cache) indexPath() string { return filepath.Join(c.Dir, "index.json") }

// BlobPath is where a digest lives.
func (c *Cache) BlobPath(digest string) string {
	return filepath.Join(c.Dir, "blobs", "sha256", digest[len("sha256:"):])
}

// Has reports whether the cache holds the blob, and its size.
func (c *Cache) Has(digest string) (bool, int64) {
	if !verify.ValidDigest(digest) {
		return false, 0
	}
	fi, err := os.Stat(c.BlobPath(digest))
	if err != nil {
		return false, 0
	}
	return true, fi.Size()
}

// Open opens a blob for reading; the reader verifies the digest as it goes.
func (c *Cache) Open(digest string) (io.ReadCloser, int64, error) {
	if !verify.ValidDigest(digest) {
		return nil, 0, fmt.Errorf("bad digest %q", digest)
	}
	// O_NONBLOCK: opening a named pipe for reading would otherwise block
	// in the kernel until a writer comes, where no signal ends the wait.
	// On a regular file it changes nothing.
	path := c.BlobPath(digest)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		err = absent{err}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("cache %s: %w", c.Dir, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	// Only regular files are blobs (a symbolic link is followed, and what it
	// reaches is checked like any blob). A pipe, device or socket never ends
	// or blocks forever.
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, &NotRegularError{Dir: c.Dir, Digest: digest, Path: path, Mode: fi.Mode()}
	}
	r, err := verify.NewReader(f, digest, fi.Size())
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return r, fi.Size(), nil
}

// ErrNotRegular is matched by a *NotRegularError.
var ErrNotRegular = errors.New("blob is not a regular file")

// NotRegularError is a blob path that holds something other than a regular
// file (a named pipe, a device, a socket, a directory).
type NotRegularError struct {
	Dir, Digest, Path string
	Mode              fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s: blob %s is %s, not a regular file; fix: replace it with the blob's content (or remove it, and fetch again into a cache)", e.Path, e.Digest, fileKind(e.Mode))
}

func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "file type " + m.Type().String()
}

// Remove deletes a blob, e.g. a damaged one, so that the next fetch gets it
// again; a blob already gone is no error.
func (c *Cache) Remove(digest string) error {
	if !verify.ValidDigest(digest) {
		return fmt.Errorf("bad digest %q", digest)
	}
	if err := os.Remove(c.BlobPath(digest)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache %s: %w", c.Dir, err)
	}
	return nil
}

// ReadBlob reads a small blob (a manifest or config) whole, verified.
func (c *Cache) ReadBlob(digest string) ([]byte, error) {
	r, _, err := c.Open(digest)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return capread.All(r, "cached blob "+digest, capread.ImageConfig)
}

// Put stores a blob from r, verifying digest and size (size < 0: unknown).
// It returns the bytes written: 0 when the blob was already there. Nothing
// appears under the blob's name unless it is complete and verified.
func (c *Cache) Put(ctx context.Context, digest string, size int64, r io.Reader) (int64, error) {
	if ok, _ := c.Has(digest); ok {
		return 0, nil
	}
	// A reader that checks this digest itself is not hashed twice.
	vr := r
	if v, ok := r.(verify.Verifier); !ok || !v.Verifies(digest, size) {
		var err error
		if vr, err = verify.NewReader(io.NopCloser(r), digest, size); err != nil {
			return 0, err
		}
	}
	final := c.BlobPath(digest)
	n, err := atomicfile.Write(final, func(w io.Writer) error {
		_, err := io.Copy(w, readerWithContext{ctx, vr})
		return err
	}, 0o644)
	if err != nil {
		return 0, fmt.Errorf("caching %s: %w", digest, err)
	}
	return n, nil
}

// PutBytes stores a small blob held in memory and returns its digest.
func (c *Cache) PutBytes(ctx context.Context, b []byte) (string, error) {
	d := verify.Digest(b)
	_, err := c.Put(ctx, d, int64(len(b)), bytes.NewReader(b))
	return d, err
}

type readerWithContext struct {
	ctx context.Context
	r   io.Reader
}

func (r readerWithContext) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// Tag records in index.json that ref names the manifest desc (replacing any
// earlier entry of that name). The cache must hold the manifest already.
func (c *Cache) Tag(ref string, desc manifest.Descriptor) error {
	if ok, _ := c.Has(desc.Digest); !ok {
		return fmt.Errorf("cache %s: cannot name %s: manifest %s not in the cache", c.Dir, ref, desc.Digest)
	}
	return c.withLock(func() error {
		idx, err := c.readIndex()
		if err != nil {
			return err
		}
		d := desc
		d.Annotations = map[string]string{RefAnnotation: ref}
		kept := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if m.Annotations[RefAnnotation] == ref {
				if m.Digest == d.Digest && m.MediaType == d.MediaType {
					return nil // already so
				}
				continue
			}
			kept = append(kept, m)
		}
		idx.Manifests = append(kept, d)
		sort.SliceStable(idx.Manifests, func(i, j int) bool {
			return idx.Manifests[i].Annotations[RefAnnotation] < idx.Manifests[j].Annotations[RefAnnotation]
		})
		return c.writeIndex(idx)
	})
}

// Untag removes the index.json entries named ref.
func (c *Cache) Untag(ref string) error {
	return c.withLock(func() error {
		idx, err := c.readIndex()
		if err != nil {
			return err
		}
		kept := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if m.Annotations[RefAnnotation] != ref {
				kept = append(kept, m)
			}
		}
		idx.Manifests = kept
		return c.writeIndex(idx)
	})
}

// Refs lists the named images of the cache.
func (c *Cache) Refs() ([]manifest.Descriptor, error) {
	idx, err := c.readIndex()
	if err != nil {
		return nil, err
	}
	return idx.Manifests, nil
}

// Lookup finds the manifest named ref.
func (c *Cache) Lookup(ref string) (manifest.Descriptor, bool, error) {
	refs, err := c.Refs()
	if err != nil {
		return manifest.Descriptor{}, false, err
	}
	for _, d := range refs {
		if d.Annotations[RefAnnotation] == ref {
			return d, true, nil
		}
	}
	return manifest.Descriptor{}, false, nil
}

func (c *Cache) readIndex() (*index, error) {
	b, err := readRegular(c.indexPath(), capread.Meta)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", c.Dir, err)
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("cache %s: index.json: %v; fix: restore it or start a new cache directory", c.Dir, err)
	}
	if idx.Manifests == nil {
		idx.Manifests = []manifest.Descriptor{}
	}
	return &idx, nil
}

func (c *Cache) writeIndex(idx *index) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.indexPath(), append(b, '\n'), 0o644)
}

// withLock holds an exclusive flock on DIR/.lock for f: index.json is a
// read-modify-write shared by every process using the cache.
func (c *Cache) withLock(f func() error) error {
	lf, err := os.OpenFile(filepath.Join(c.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("cache %s: %w", c.Dir, err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("cache %s: locking: %w", c.Dir, err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it anyway
	return f()
}

// absent marks a missing blob's error as store.ErrNotFound, keeping its text.
type absent struct{ error }

func (e absent) Unwrap() error        { return e.error }
func (e absent) Is(target error) bool { return target == store.ErrNotFound }
