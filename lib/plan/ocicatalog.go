package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/policy"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/store"
)

// RefNameAnnotation names an image of an OCI layout's index.json (what
// skopeo copy ... oci:DIR:NAME writes).
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// ociOperator plans a catalog in a local OCI image layout (oci://PATH). The
// record's source is oci:// and the absolute layout path; its destination is,
// as oc-mirror v2 names it, the layout directory's last element under the
// mirror root, tag "latest" (targetCatalog and targetTag override). The
// catalog always goes into the cache, rebuilt or whole, so later stages read
// it from there like a rebuilt remote catalog. A layout listing several
// images needs one named: oci://PATH:NAME (its ref name, which is then the
// tag when it is a valid one) or oci://PATH@DIGEST.
func (p *Planner) ociOperator(ctx context.Context, op config.Operator, deleting bool) ([]*record.Record, error) {
	dir, sel, err := splitLayoutRef(op.Catalog[len(refs.OCIPrefix):])
	if err != nil {
		return nil, err
	}
	// A layout has no registry to hold signatures: --secure-policy cannot
	// judge it, and an unjudged catalog would decide what gets mirrored.
	if p.Policy != nil {
		return nil, fmt.Errorf("layout %s: %w", dir, policy.ErrLayoutUnjudged)
	}
	// Read only: cache.Open would write into the user's layout.
	layout := &cache.Cache{Dir: dir}
	descs, err := layout.Refs()
	if err != nil {
		return nil, err
	}
	d, err := pickLayoutImage(dir, descs, sel)
	if err != nil {
		return nil, err
	}
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
	if n := d.Annotations[RefNameAnnotation]; sel.name != "" && validTag(n) {
		cat.Tag, dest.Tag = n, n
	}
	return p.catalogImages(ctx, op, deleting, layout, cat, dest, true)
}

// layoutSelector names one image of a layout: by ref name or digest.
type layoutSelector struct{ name, digest string }

// splitLayoutRef splits PATH[:NAME|@DIGEST] into the absolute layout
// directory and the selector. A PATH that is itself a layout wins, so a
// directory whose name holds ':' still works.
func splitLayoutRef(s string) (string, layoutSelector, error) {
	isLayout := func(p string) (string, bool) {
		dir, err := filepath.Abs(p)
		if err != nil {
			return "", false
		}
		_, err = os.Stat(filepath.Join(dir, "oci-layout"))
		return dir, err == nil
	}
	if dir, ok := isLayout(s); ok {
		return dir, layoutSelector{}, nil
	}
	if i := strings.LastIndex(s, "@sha256:"); i > 0 {
		if dir, ok := isLayout(s[:i]); ok {
			return dir, layoutSelector{digest: s[i+1:]}, nil
		}
	}
	if i := strings.LastIndex(s, ":"); i > 0 && !strings.Contains(s[i+1:], "/") && s[i+1:] != "" {
		if dir, ok := isLayout(s[:i]); ok {
			return dir, layoutSelector{name: s[i+1:]}, nil
		}
	}
	dir, err := filepath.Abs(s)
	if err != nil {
		return "", layoutSelector{}, err
	}
	return "", layoutSelector{}, fmt.Errorf("%s is not an OCI image layout (no oci-layout file); fix: name a directory written by skopeo copy ... oci:DIR or oc-mirror", dir)
}

// pickLayoutImage returns the one image of index.json sel names, or the
// only one when sel is empty.
func pickLayoutImage(dir string, descs []manifest.Descriptor, sel layoutSelector) (manifest.Descriptor, error) {
	var names []string
	var hits []manifest.Descriptor
	for _, d := range descs {
		n := d.Annotations[RefNameAnnotation]
		if n == "" {
			n = "<none>"
		}
		names = append(names, n+" ("+d.Digest+")")
		if (sel.name != "" && d.Annotations[RefNameAnnotation] == sel.name) || (sel.digest != "" && d.Digest == sel.digest) {
			hits = append(hits, d)
		}
	}
	switch {
	case sel.name == "" && sel.digest == "" && len(descs) == 1:
		return descs[0], nil
	case sel.name == "" && sel.digest == "":
		return manifest.Descriptor{}, fmt.Errorf("layout %s: index.json lists %d images, want exactly one or one named (%s); fix: name it as oci://%s:REF-NAME or oci://%s@sha256:...", dir, len(descs), strings.Join(names, ", "), dir, dir)
	case len(hits) == 1:
		return hits[0], nil
	}
	want := sel.name
	if want == "" {
		want = sel.digest
	}
	return manifest.Descriptor{}, fmt.Errorf("layout %s: index.json lists %d images named %s, want one (it lists %s); fix: name one image of the layout", dir, len(hits), want, strings.Join(names, ", "))
}

// validTag reports whether s can tag an image in the mirror.
func validTag(s string) bool {
	_, err := name.NewTag("example.com/x:"+s, name.StrictValidation)
	return s != "" && err == nil
}

// cacheCatalog copies the whole catalog into the cache under its source name.
func (p *Planner) cacheCatalog(ctx context.Context, src store.Reader, cat *record.Record) error {
	if _, err := p.Engine.Copy(ctx, src, cat.Digest, p.Cache, ""); err != nil {
		return fmt.Errorf("caching the catalog image: %w", err)
	}
	return p.Cache.Tag(cat.Source, manifest.Descriptor{MediaType: cat.MediaType, Digest: cat.Digest, Size: cat.Size})
}
