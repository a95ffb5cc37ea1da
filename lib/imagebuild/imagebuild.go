// Package imagebuild makes new images from images held in the cache: a base
// plus one layer on top and an edited run config, built with
// go-containerregistry's mutate on the typed config, and written back into
// the cache. The base's history, os, architecture and the rest of its
// config are kept.
package imagebuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/manifest"
)

// Created is the time of every history entry this package adds: a fixed one,
// so that the same input builds the same image.
var Created = v1.Time{Time: time.Unix(0, 0).UTC()}

// Change is what Apply makes of a base image.
type Change struct {
	// Layer goes on top of the base's layers; nil adds none. Its media
	// type follows the base manifest's kind (Docker or OCI).
	Layer v1.Layer
	// CreatedBy is the history entry of the change.
	CreatedBy string
	// Config edits the run config (Cmd, Entrypoint, Labels, Env,
	// WorkingDir, ...); nil keeps it.
	Config func(*v1.Config) error
}

// Apply returns base with the change made.
func Apply(base v1.Image, ch Change) (v1.Image, error) {
	img := base
	if ch.Config != nil {
		cf, err := base.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("base config: %w", err)
		}
		cfg := *cf.Config.DeepCopy()
		if err := ch.Config(&cfg); err != nil {
			return nil, err
		}
		if img, err = mutate.Config(img, cfg); err != nil {
			return nil, err
		}
	}
	add := mutate.Addendum{Layer: ch.Layer, History: v1.History{Created: Created, CreatedBy: ch.CreatedBy}}
	if ch.Layer != nil {
		mt, err := base.MediaType()
		if err != nil {
			return nil, err
		}
		add.MediaType = types.OCILayer
		if mt == types.DockerManifestSchema2 {
			add.MediaType = types.DockerLayer
		}
	}
	return mutate.Append(img, add)
}

// Entry is one tar entry of a layer: its header and, for a regular file,
// its content (Header.Size is set from it), or Header.Size bytes from
// Reader when it is set (LayerFile).
type Entry struct {
	Header tar.Header
	Body   []byte
	Reader io.Reader
}

// LayerFile makes a gzipped layer of the entries, in order, streamed into a
// temporary file in dir ("": the system's), so a layer of any size takes no
// memory. The returned func removes the file, once the layer is written.
func LayerFile(dir string, entries []Entry) (v1.Layer, func(), error) {
	f, err := os.CreateTemp(dir, "ocm-layer-")
	if err != nil {
		return nil, nil, err
	}
	remove := func() { os.Remove(f.Name()) }
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := gzip.NewWriter(bw)
	tw := tar.NewWriter(zw)
	err = func() error {
		for _, e := range entries {
			h := e.Header
			if h.Typeflag == tar.TypeReg && e.Reader == nil {
				h.Size = int64(len(e.Body))
			}
			if err := tw.WriteHeader(&h); err != nil {
				return err
			}
			if e.Reader != nil {
				if _, err := io.CopyN(tw, e.Reader, h.Size); err != nil {
					return fmt.Errorf("layer entry %s: %w", h.Name, err)
				}
			} else if _, err := tw.Write(e.Body); err != nil {
				return err
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		return bw.Flush()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		remove()
		return nil, nil, err
	}
	l, err := tarball.LayerFromFile(f.Name())
	if err != nil {
		remove()
		return nil, nil, err
	}
	return l, remove, nil
}

// Layer makes a gzipped layer of the entries, in order.
func Layer(entries []Entry) (v1.Layer, error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, e := range entries {
		h := e.Header
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.Body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(tb.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	blob := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	})
}

// Image is the image manifest digest held in c (its config and layers read
// from c as needed).
func Image(c *cache.Cache, digest string) (v1.Image, error) {
	body, err := c.ReadBlob(digest)
	if err != nil {
		return nil, err
	}
	_, mt, err := manifest.Parse(body, "")
	if err != nil {
		return nil, err
	}
	if manifest.IsIndex(mt) {
		return nil, fmt.Errorf("%s is an index, not an image manifest", digest)
	}
	return partial.CompressedToImage(&cached{c: c, raw: body, mt: types.MediaType(mt)})
}

// cached is an image manifest in the cache, as partial sees images.
type cached struct {
	c   *cache.Cache
	raw []byte
	mt  types.MediaType
}

func (i *cached) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *cached) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *cached) RawConfigFile() ([]byte, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.raw))
	if err != nil {
		return nil, err
	}
	return i.c.ReadBlob(m.Config.Digest.String())
}

func (i *cached) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.raw))
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if l.Digest == h {
			return &cachedLayer{c: i.c, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in the manifest", h)
}

type cachedLayer struct {
	c    *cache.Cache
	desc v1.Descriptor
}

func (l *cachedLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *cachedLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *cachedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *cachedLayer) Compressed() (io.ReadCloser, error) {
	r, _, err := l.c.Open(l.desc.Digest.String())
	return r, err
}

// Write stores img (layers the cache lacks, config, manifest) in c and
// returns the manifest's descriptor.
func Write(ctx context.Context, c *cache.Cache, img v1.Image) (manifest.Descriptor, error) {
	layers, err := img.Layers()
	if err != nil {
		return manifest.Descriptor{}, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return manifest.Descriptor{}, err
		}
		if ok, _ := c.Has(d.String()); ok {
			continue
		}
		// Foreign layers (non-distributable) stay where their URLs
		// point: the cache holds them no more than the base did.
		if mt, err := l.MediaType(); err == nil && !mt.IsDistributable() {
			continue
		}
		size, err := l.Size()
		if err != nil {
			return manifest.Descriptor{}, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return manifest.Descriptor{}, err
		}
		_, err = c.Put(ctx, d.String(), size, rc)
		rc.Close()
		if err != nil {
			return manifest.Descriptor{}, err
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return manifest.Descriptor{}, err
	}
	if _, err := c.PutBytes(ctx, cfg); err != nil {
		return manifest.Descriptor{}, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return manifest.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return manifest.Descriptor{}, err
	}
	d, err := c.PutBytes(ctx, raw)
	return manifest.Descriptor{MediaType: string(mt), Digest: d, Size: int64(len(raw))}, err
}

// Rebuild applies f to the image manifest digest in c, or to every manifest
// of it if it is an index (nested ones too), writes the results into c and
// returns the new manifest's descriptor. An index keeps its entries' order,
// platforms and annotations.
func Rebuild(ctx context.Context, c *cache.Cache, digest string, f func(v1.Image) (v1.Image, error)) (manifest.Descriptor, error) {
	return rebuild(ctx, c, digest, f, 0)
}

func rebuild(ctx context.Context, c *cache.Cache, digest string, f func(v1.Image) (v1.Image, error), depth int) (manifest.Descriptor, error) {
	if err := manifest.Nested(depth, digest); err != nil {
		return manifest.Descriptor{}, err
	}
	body, err := c.ReadBlob(digest)
	if err != nil {
		return manifest.Descriptor{}, err
	}
	_, mt, err := manifest.Parse(body, "")
	if err != nil {
		return manifest.Descriptor{}, err
	}
	if !manifest.IsIndex(mt) {
		base, err := Image(c, digest)
		if err != nil {
			return manifest.Descriptor{}, err
		}
		img, err := f(base)
		if err != nil {
			return manifest.Descriptor{}, err
		}
		return Write(ctx, c, img)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		return manifest.Descriptor{}, err
	}
	for i, e := range idx.Manifests {
		nd, err := rebuild(ctx, c, e.Digest.String(), f, depth+1)
		if err != nil {
			if e.Platform != nil {
				return manifest.Descriptor{}, fmt.Errorf("platform %s: %w", e.Platform, err)
			}
			return manifest.Descriptor{}, err
		}
		h, err := v1.NewHash(nd.Digest)
		if err != nil {
			return manifest.Descriptor{}, err
		}
		e.Digest, e.Size, e.MediaType, e.Data = h, nd.Size, types.MediaType(nd.MediaType), nil
		idx.Manifests[i] = e
	}
	nb, err := json.Marshal(idx)
	if err != nil {
		return manifest.Descriptor{}, err
	}
	nd, err := c.PutBytes(ctx, nb)
	return manifest.Descriptor{MediaType: mt, Digest: nd, Size: int64(len(nb))}, err
}
