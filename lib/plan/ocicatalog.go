package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/store"
)

// ociOperator plans a catalog in a local OCI image layout (oci://PATH). The
// record's source is oci:// and the absolute layout path; its destination is,
// as oc-mirror v2 names it, the layout directory's last element under the
// mirror root, tag "latest" (targetCatalog and targetTag override). The
// catalog always goes into the cache, rebuilt or whole, so later stages read
// it from there like a rebuilt remote catalog.
func (p *Planner) ociOperator(ctx context.Context, op config.Operator, deleting bool) ([]*record.Record, error) {
	dir, err := filepath.Abs(op.Catalog[len(refs.OCIPrefix):])
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not an OCI image layout (no oci-layout file); fix: name a directory written by skopeo copy ... oci:DIR or oc-mirror", dir)
		}
		return nil, err
	}
	// Read only: cache.Open would write into the user's layout.
	layout := &cache.Cache{Dir: dir}
	descs, err := layout.Refs()
	if err != nil {
		return nil, err
	}
	if len(descs) != 1 {
		return nil, fmt.Errorf("layout %s: index.json lists %d images, want exactly one catalog image; fix: copy only the catalog into its own layout directory", dir, len(descs))
	}
	d := descs[0]
	if _, _, err := refs.SplitDestination(filepath.Base(dir) + ":latest"); err != nil && op.TargetCatalog == "" {
		return nil, fmt.Errorf("layout %s: its directory name %q is not a repository name for the mirror; fix: set targetCatalog (e.g. my-namespace/my-catalog)", dir, filepath.Base(dir))
	}
	if !deleting && (p.Cache == nil || p.Engine == nil) {
		return nil, fmt.Errorf("a catalog in a local OCI layout is copied into the cache; fix: pass --cache DIR to ocm-plan, and the same --cache to ocm-push")
	}
	source := refs.OCIPrefix + dir
	cat := &record.Record{V: record.Version, Origin: record.OriginCatalog, Source: source, Digest: d.Digest, Size: d.Size,
		MediaType: d.MediaType, Catalog: op.Catalog, Status: record.StatusPlanned, Stage: "plan"}
	dest := refs.Dest{Path: filepath.Base(dir), Tag: "latest"}
	return p.catalogImages(ctx, op, deleting, layout, cat, dest, true)
}

// cacheCatalog copies the whole catalog into the cache under its source name.
func (p *Planner) cacheCatalog(ctx context.Context, src store.Reader, cat *record.Record) error {
	if _, err := p.Engine.Copy(ctx, src, cat.Digest, p.Cache, ""); err != nil {
		return fmt.Errorf("caching the catalog image: %w", err)
	}
	return p.Cache.Tag(cat.Source, manifest.Descriptor{MediaType: cat.MediaType, Digest: cat.Digest, Size: cat.Size})
}
