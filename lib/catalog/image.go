package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/imagefs"
)

// Image is a catalog image: its filesystem, the directory of its
// declarative config, and what selection needs of that config.
type Image struct {
	FS     *imagefs.Image
	Dir    string
	FBC    *FBC
	limits Limits
}

// Read reads the catalog image digest from src: its linux/amd64 image when
// it is an index that has one, else the only one.
func Read(ctx context.Context, src imagefs.Source, digest string) (*Image, error) {
	return ReadPackages(ctx, src, digest, nil)
}

// ReadPackages reads the catalog as Read does, keeping of its packages only
// those named (all when names is empty). The config is streamed document by
// document, once: what is kept is what selection needs (channels, bundle
// names, versions and images, the small documents), never the bundles'
// inlined objects, so memory follows the packages kept, not the catalog.
func ReadPackages(ctx context.Context, src imagefs.Source, digest string, names []string) (*Image, error) {
	limits, err := LimitsFromEnv()
	if err != nil {
		return nil, err
	}
	img, err := imagefs.Resolve(ctx, src, digest, "linux/amd64")
	if err != nil {
		if img, err = imagefs.Resolve(ctx, src, digest, ""); err != nil {
			return nil, err
		}
	}
	var keep func(string) bool
	if len(names) > 0 {
		want := map[string]bool{}
		for _, n := range names {
			want[n] = true
		}
		keep = func(n string) bool { return want[n] }
	}
	dir := ConfigsDir(img)
	ps := newParser(keep, false, limits)
	files := 0
	err = imagefs.EachFile(ctx, src, img, []string{dir}, ratio(limits), func(p string, _ int64, r io.Reader) error {
		files++
		return ps.file(p, r)
	})
	if err != nil {
		return nil, err
	}
	if files == 0 {
		return nil, fmt.Errorf("no declarative config under /%s (label %s); fix: is this a file-based catalog image?", dir, ConfigsLabel)
	}
	fbc, err := ps.finish()
	if err != nil {
		return nil, err
	}
	return &Image{FS: img, Dir: dir, FBC: fbc, limits: limits}, nil
}

func ratio(l Limits) imagefs.Ratio {
	return imagefs.Ratio{Max: l.Ratio, RaisedBy: RatioEnv}
}

// Layer is the image layer holding sel as the image's declarative config
// (Rebuild adds it). The selected bundles' documents are read again from
// src (the image's layers, best from a local cache): only the files that
// hold them, only their bytes.
func (c *Image) Layer(ctx context.Context, src imagefs.Source, sel *Selection) (v1.Layer, error) {
	if err := c.loadDocs(ctx, src, sel); err != nil {
		return nil, err
	}
	files, err := c.FBC.Render(sel, c.Dir)
	if err != nil {
		return nil, err
	}
	return Layer(c.Dir, ServeCacheDir(c.FS), files)
}

var errAllRead = errors.New("all documents read")

// loadDocs reads the document of every selected bundle that lacks it, from
// its place in the config, as Render writes it.
func (c *Image) loadDocs(ctx context.Context, src imagefs.Source, sel *Selection) error {
	want := map[string][]*Bundle{} // file -> bundles, by offset
	for pn, ps := range sel.Packages {
		p := c.FBC.Packages[pn]
		for bn := range ps.Bundles {
			if b := p.Bundles[bn]; b != nil && b.Doc == nil && b.rendered == nil {
				want[b.at.file] = append(want[b.at.file], b)
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	for _, bs := range want {
		sort.Slice(bs, func(i, j int) bool {
			return bs[i].at.off < bs[j].at.off || bs[i].at.off == bs[j].at.off && bs[i].at.sub < bs[j].at.sub
		})
	}
	err := imagefs.EachFile(ctx, src, c.FS, []string{c.Dir}, ratio(c.limits), func(p string, _ int64, r io.Reader) error {
		bs := want[p]
		if len(bs) == 0 {
			return nil
		}
		var at int64
		var part []byte
		for _, b := range bs {
			if b.at.off != at-int64(len(part)) || part == nil {
				if _, err := io.CopyN(io.Discard, r, b.at.off-at); err != nil {
					return fmt.Errorf("catalog file %s changed between reads: %w", p, err)
				}
				part = make([]byte, b.at.len)
				if _, err := io.ReadFull(r, part); err != nil {
					return fmt.Errorf("catalog file %s changed between reads: %w", p, err)
				}
				at = b.at.off + b.at.len
			}
			raw := part
			if strings.HasSuffix(strings.ToLower(p), ".yaml") || strings.HasSuffix(strings.ToLower(p), ".yml") {
				j, err := yaml.YAMLToJSON(part)
				if err != nil {
					return fmt.Errorf("catalog file %s: %w", p, err)
				}
				raw = nil
				err = eachJSON(bytes.NewReader(j), p, c.limits.Document, 0, func(v []byte, _ int64, n int, _ *docHead, _ error) error {
					if n == b.at.sub {
						raw = append([]byte(nil), v...)
					}
					return nil
				})
				if err != nil || raw == nil {
					return fmt.Errorf("catalog file %s: bundle %s changed between reads: %v", p, b.Name, err)
				}
			}
			d, err := decodeMap(raw)
			if err != nil {
				return fmt.Errorf("catalog file %s: bundle %s: %w", p, b.Name, err)
			}
			// Kept as Render writes it: the text is a third of the map.
			if b.rendered, err = renderDoc(d); err != nil {
				return err
			}
		}
		delete(want, p)
		if len(want) == 0 {
			// The rest of the layer holds nothing wanted; the blob was
			// verified when it was read first (and cached).
			return errAllRead
		}
		return nil
	})
	if err != nil && !errors.Is(err, errAllRead) {
		return err
	}
	for p, bs := range want {
		return fmt.Errorf("catalog file %s with bundle %s is gone between reads", p, bs[0].Name)
	}
	return nil
}

// BundleNames names bundles (package -> bundle) as package/bundle, sorted.
func BundleNames(bundles map[string]map[string]bool) []string {
	var names []string
	for p, bs := range bundles {
		for b := range bs {
			names = append(names, p+"/"+b)
		}
	}
	sort.Strings(names)
	return names
}

// DropBundles rebuilds the image digest of catalog, which c holds, without
// bundles (package -> bundle), and returns the new image's digest, media
// type and size. A later plan with everything mirrored restores them.
func DropBundles(ctx context.Context, c *cache.Cache, catalog, digest string, bundles map[string]map[string]bool) (string, string, int64, error) {
	cat, err := Read(ctx, c, digest)
	if err != nil {
		return "", "", 0, err
	}
	sel := cat.FBC.All()
	sel.Drop(bundles)
	layer, err := cat.Layer(ctx, c, sel)
	if err != nil {
		return "", "", 0, err
	}
	d, mt, size, err := Rebuild(ctx, c, digest, layer)
	if err != nil {
		return "", "", 0, fmt.Errorf("rebuilding catalog %s without %s: %w", catalog, strings.Join(BundleNames(bundles), ", "), err)
	}
	return d, mt, size, nil
}
