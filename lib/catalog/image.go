package catalog

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/imagebuild"
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

// Rebuild writes into the cache c (which holds the catalog image digest) the
// image with sel as its declarative config (see Layer and Rebuild) and
// returns the new manifest's digest, media type and size. The selected
// bundles' documents are read again from c, only the files that hold them
// and only their bytes, into a temporary file, and the layer is streamed to
// another: memory does not grow with what is selected.
func (c *Image) Rebuild(ctx context.Context, cc *cache.Cache, digest string, sel *Selection) (string, string, int64, error) {
	spool, err := os.CreateTemp("", "ocm-catalog-")
	if err != nil {
		return "", "", 0, err
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
		for _, p := range c.FBC.Packages {
			for _, b := range p.Bundles {
				b.spool = nil
			}
		}
	}()
	if err := c.loadDocs(ctx, cc, sel, spool); err != nil {
		return "", "", 0, err
	}
	parts, err := c.FBC.parts(sel, c.Dir)
	if err != nil {
		return "", "", 0, err
	}
	files := map[string]imagebuild.Entry{}
	var names []string
	for _, pp := range parts {
		size := int64(len(pp.head) + len(pp.tail))
		rs := []io.Reader{bytes.NewReader(pp.head)}
		for _, b := range pp.bundles {
			n, err := b.size()
			if err != nil {
				return "", "", 0, err
			}
			r, err := b.reader()
			if err != nil {
				return "", "", 0, err
			}
			size += n
			rs = append(rs, r)
		}
		rs = append(rs, bytes.NewReader(pp.tail))
		files[pp.file] = imagebuild.Entry{Header: tar.Header{Size: size}, Reader: io.MultiReader(rs...)}
		names = append(names, pp.file)
	}
	layer, remove, err := imagebuild.LayerFile("", layerEntries(c.Dir, ServeCacheDir(c.FS), names, func(n string) imagebuild.Entry { return files[n] }))
	if err != nil {
		return "", "", 0, err
	}
	defer remove()
	return Rebuild(ctx, cc, digest, layer)
}

var errAllRead = errors.New("all documents read")

// loadDocs reads the document of every selected bundle that lacks it, from
// its place in the config, and writes it to spool as Render writes it.
func (c *Image) loadDocs(ctx context.Context, src imagefs.Source, sel *Selection, spool *os.File) error {
	want := map[string][]*Bundle{} // file -> bundles, by offset
	for pn, ps := range sel.Packages {
		p := c.FBC.Packages[pn]
		for bn := range ps.Bundles {
			if b := p.Bundles[bn]; b != nil && b.Doc == nil && b.spool == nil {
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
			text, err := renderDoc(d)
			if err != nil {
				return err
			}
			off, err := spool.Seek(0, io.SeekEnd)
			if err != nil {
				return err
			}
			if _, err := spool.Write(text); err != nil {
				return fmt.Errorf("spooling catalog documents: %w", err)
			}
			b.spool = &spooled{f: spool, off: off, n: int64(len(text))}
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
	d, mt, size, err := cat.Rebuild(ctx, c, digest, sel)
	if err != nil {
		return "", "", 0, fmt.Errorf("rebuilding catalog %s without %s: %w", catalog, strings.Join(BundleNames(bundles), ", "), err)
	}
	return d, mt, size, nil
}
