package catalog

import (
	"context"
	"fmt"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/imagefs"
)

// Image is a catalog image: its filesystem, the directory of its
// declarative config, and that config.
type Image struct {
	FS  *imagefs.Image
	Dir string
	FBC *FBC
}

// Read reads the catalog image digest from src: its linux/amd64 image when
// it is an index that has one, else the only one.
func Read(ctx context.Context, src imagefs.Source, digest string) (*Image, error) {
	img, err := imagefs.Resolve(ctx, src, digest, "linux/amd64")
	if err != nil {
		if img, err = imagefs.Resolve(ctx, src, digest, ""); err != nil {
			return nil, err
		}
	}
	dir := ConfigsDir(img)
	files, err := imagefs.ReadFiles(ctx, src, img, []string{dir}, capread.Catalog)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no declarative config under /%s (label %s); fix: is this a file-based catalog image?", dir, ConfigsLabel)
	}
	fbc, err := Parse(files)
	if err != nil {
		return nil, err
	}
	return &Image{FS: img, Dir: dir, FBC: fbc}, nil
}

// Layer is the image layer holding sel as the image's declarative config
// (Rebuild adds it).
func (c *Image) Layer(sel *Selection) (v1.Layer, error) {
	files, err := c.FBC.Render(sel, c.Dir)
	if err != nil {
		return nil, err
	}
	return Layer(c.Dir, ServeCacheDir(c.FS), files)
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
	layer, err := cat.Layer(sel)
	if err != nil {
		return "", "", 0, err
	}
	d, mt, size, err := Rebuild(ctx, c, digest, layer)
	if err != nil {
		return "", "", 0, fmt.Errorf("rebuilding catalog %s without %s: %w", catalog, strings.Join(BundleNames(bundles), ", "), err)
	}
	return d, mt, size, nil
}
