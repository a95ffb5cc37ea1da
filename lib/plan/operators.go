package plan

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/catalog"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/store"
)

// Operators plans mirror.operators: for each catalog, the selected bundles,
// their related images, and the catalog itself, rebuilt into the cache with
// only the selection (unless the whole catalog is mirrored). A catalog that
// cannot be read or filtered gives a failed record; the others go on.
//
// For a DeleteImageSetConfiguration (deleting): nothing is rebuilt; a
// catalog listed with packages plans those operators' images only, a catalog
// without packages plans every operator in it and the catalog image itself.
func (p *Planner) Operators(ctx context.Context, ops []config.Operator, deleting bool) []*record.Record {
	var out []*record.Record
	for _, op := range ops {
		recs, err := p.operator(ctx, op, deleting)
		if err != nil {
			r := &record.Record{V: record.Version, Origin: record.OriginCatalog, Source: op.Catalog, Catalog: op.Catalog}
			r.Fail("plan", fmt.Errorf("catalog %s: %w", op.Catalog, err))
			p.Log.Errorf("%s", r.Error)
			out = append(out, r)
			continue
		}
		out = append(out, recs...)
	}
	return out
}

func filterOf(op config.Operator, everyChannel bool) catalog.Filter {
	f := catalog.Filter{Full: op.Full, EveryChannel: everyChannel}
	for _, pk := range op.Packages {
		pf := catalog.PackageFilter{Name: pk.Name, MinVersion: pk.MinVersion, MaxVersion: pk.MaxVersion, DefaultChannel: pk.DefaultChannel}
		for _, c := range pk.Channels {
			pf.Channels = append(pf.Channels, catalog.ChannelFilter{Name: c.Name, MinVersion: c.MinVersion, MaxVersion: c.MaxVersion})
		}
		for _, b := range pk.Bundles {
			pf.Bundles = append(pf.Bundles, b.Name)
		}
		f.Packages = append(f.Packages, pf)
	}
	return f
}

func (p *Planner) operator(ctx context.Context, op config.Operator, deleting bool) ([]*record.Record, error) {
	if refs.IsOCI(op.Catalog) {
		return p.ociOperator(ctx, op, deleting)
	}
	ref, err := name.ParseReference(op.Catalog)
	if err != nil {
		return nil, err
	}
	repo, err := p.Client.Repository(ref.Context().Name())
	if err != nil {
		return nil, err
	}
	want := ref.Identifier()
	if d, ok := refs.DigestOf(op.Catalog); ok {
		want = d
	}
	_, mt, digest, err := p.Client.Manifest(ctx, repo, want)
	if err != nil {
		return nil, err
	}
	dest, err := refs.Destination(op.Catalog)
	if err != nil {
		return nil, err
	}
	cat := &record.Record{V: record.Version, Origin: record.OriginCatalog, Source: op.Catalog, Digest: digest, Tag: refs.TagOf(op.Catalog),
		MediaType: mt, Catalog: op.Catalog, Status: record.StatusPlanned, Stage: "plan"}
	// --secure-policy judges the catalog as upstream published it, before
	// ocm reads what to mirror from it or rebuilds it: a refused catalog
	// plans nothing, and the rebuilt one is ocm's own (BuiltFrom).
	if err := p.Policy.Judge(ctx, cat); err != nil {
		return nil, err
	}
	return p.catalogImages(ctx, op, deleting, &registry.Repo{Client: p.Client, Name: repo}, cat, dest, false)
}

// catalogImages reads the catalog image cat names from src, selects from it,
// and plans the bundles, related images and the catalog itself (rebuilt into
// the cache when filtered, or copied there whole when alwaysCache).
func (p *Planner) catalogImages(ctx context.Context, op config.Operator, deleting bool, src store.Reader, cat *record.Record, dest refs.Dest, alwaysCache bool) ([]*record.Record, error) {
	// Only the packages asked for are kept of the catalog (all when none is).
	var names []string
	for _, pk := range op.Packages {
		names = append(names, pk.Name)
	}
	ci, err := catalog.ReadPackages(ctx, src, cat.Digest, names)
	if err != nil {
		return nil, err
	}
	fbc := ci.FBC
	f := filterOf(op, p.EveryChannel)
	if deleting && len(op.Packages) == 0 {
		f.Full = true // every operator of the catalog goes
	}
	sel, err := fbc.Select(f)
	if err != nil {
		return nil, err
	}
	// oc-mirror 4.18+ takes these channels too: a Subscription to one of
	// them would find nothing on the mirror, so none is left out silently.
	for _, pkg := range sortedKeys(sel.LeftOut) {
		p.Log.Warnf("catalog %s: package %s: channels %s left out (only the default channel %s is selected); fix: name them under the package's channels, or pass --every-channel to select every channel as oc-mirror 4.18+ does",
			op.Catalog, pkg, strings.Join(sel.LeftOut[pkg], ", "), fbc.Packages[pkg].DefaultChannel)
	}

	// The catalog record: the original when mirrored whole, else rebuilt.
	if op.TargetCatalog != "" {
		dest.Path = op.TargetCatalog
	}
	if op.TargetTag != "" {
		dest.Tag = op.TargetTag
	}
	cat.Destination = dest.String()
	switch {
	case !deleting && !(op.Full && len(op.Packages) == 0):
		if err := p.rebuildCatalog(ctx, src, cat, ci, sel); err != nil {
			return nil, err
		}
	case !deleting && alwaysCache:
		if err := p.cacheCatalog(ctx, src, cat); err != nil {
			return nil, err
		}
	}

	// Bundles and related images, in a stable order.
	var recs []*record.Record
	seen := map[string]bool{}
	for _, pkg := range sortedKeys(sel.Packages) {
		ps := sel.Packages[pkg]
		for _, bn := range sortedKeys(ps.Bundles) {
			b := fbc.Packages[pkg].Bundles[bn]
			add := func(origin record.Origin, image string) {
				if image == "" || seen[image] {
					return
				}
				seen[image] = true
				r := &record.Record{V: record.Version, Origin: origin, Source: image, Catalog: op.Catalog,
					Package: pkg, Bundle: bn, Status: record.StatusPlanned, Stage: "plan"}
				// Copied sparse, as oc-mirror 4.23 (resolve narrows the
				// platforms to those of the image's index).
				if len(op.Platforms) > 0 && !p.NoSparse && !deleting {
					r.Sparse, r.Platforms = true, op.Platforms
				}
				recs = append(recs, r)
			}
			add(record.OriginBundle, b.Image)
			for _, ri := range b.Related {
				add(record.OriginRelated, ri.Image)
			}
		}
	}
	p.resolveAll(ctx, recs, p.operatorBlocklist(), func(*record.Record) error { return nil })
	p.Log.Infof("catalog %s: %d packages, %d bundle and related images", op.Catalog, len(sel.Packages), len(recs))
	if deleting && len(op.Packages) > 0 {
		return recs, nil // the catalog stays: only these operators go
	}
	return append(recs, cat), nil
}

// rebuildCatalog copies the catalog into the cache and adds the layer with
// the filtered config; cat then names the rebuilt image.
func (p *Planner) rebuildCatalog(ctx context.Context, src store.Reader, cat *record.Record, ci *catalog.Image, sel *catalog.Selection) error {
	if p.Cache == nil || p.Engine == nil {
		return fmt.Errorf("a filtered catalog is rebuilt into a cache; fix: pass --cache DIR to ocm-plan, and the same --cache to ocm-push")
	}
	if _, err := p.Engine.Copy(ctx, src, cat.Digest, p.Cache, ""); err != nil {
		return fmt.Errorf("caching the catalog image: %w", err)
	}
	// The selected bundles' documents come from the cached copy.
	d, mt, size, err := ci.Rebuild(ctx, p.Cache, cat.Digest, sel)
	if err != nil {
		return fmt.Errorf("rebuilding the catalog: %w", err)
	}
	cat.BuiltFrom = cat.Digest
	cat.Digest, cat.MediaType, cat.Size = d, mt, size
	return p.Cache.Tag(cat.Source, manifest.Descriptor{MediaType: mt, Digest: d, Size: size})
}

func sortedKeys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
