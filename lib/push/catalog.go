package push

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/catalog"
	"github.com/ocm-mirror/ocm/lib/imagefs"
	"github.com/ocm-mirror/ocm/lib/record"
)

// incomplete tracks, per catalog, the bundles with an image that failed.
type incomplete struct {
	mu sync.Mutex
	m  map[string]map[string]map[string]bool // catalog -> package -> bundle
}

func (in *incomplete) add(r *record.Record) {
	if r.Catalog == "" || r.Bundle == "" {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.m == nil {
		in.m = map[string]map[string]map[string]bool{}
	}
	if in.m[r.Catalog] == nil {
		in.m[r.Catalog] = map[string]map[string]bool{}
	}
	if in.m[r.Catalog][r.Package] == nil {
		in.m[r.Catalog][r.Package] = map[string]bool{}
	}
	in.m[r.Catalog][r.Package][r.Bundle] = true
}

func (in *incomplete) of(cat string) map[string]map[string]bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.m[cat]
}

// Seen hears every record in input order. One that arrives failed makes
// its bundle incomplete; one bound for a target an earlier record holds with
// another image is refused (claim).
func (s *Stage) Seen(r *record.Record) {
	if r.Status == record.StatusFailed {
		s.failed.add(r)
	}
	s.claim(r)
}

// Barrier makes a catalog record wait for every earlier record, so that it
// knows which of its bundles did not mirror.
func Barrier(r *record.Record) bool { return r.Origin == record.OriginCatalog }

// dropFailedBundles re-filters a rebuilt catalog in the cache so that it
// leaves out bundles whose images did not all mirror; r then names the new
// image. A later plan and push with everything mirrored restores them.
func (s *Stage) dropFailedBundles(ctx context.Context, r *record.Record) error {
	failed := s.failed.of(r.Catalog)
	if len(failed) == 0 {
		return nil
	}
	var names []string
	for p, bs := range failed {
		for b := range bs {
			names = append(names, p+"/"+b)
		}
	}
	sort.Strings(names)
	if s.Cache == nil {
		s.Log.Warnf("catalog %s: bundles %s did not mirror, but without --cache the catalog cannot be rebuilt without them", r.Catalog, strings.Join(names, ", "))
		return nil
	}
	if ok, _ := s.Cache.Has(r.Digest); !ok {
		s.Log.Warnf("catalog %s: bundles %s did not mirror; the catalog is not in the cache, so it is pushed as planned", r.Catalog, strings.Join(names, ", "))
		return nil
	}
	src := s.Cache
	img, err := imagefs.Resolve(ctx, src, r.Digest, "linux/amd64")
	if err != nil {
		if img, err = imagefs.Resolve(ctx, src, r.Digest, ""); err != nil {
			return err
		}
	}
	dir := catalog.ConfigsDir(img)
	files, err := imagefs.ReadFiles(ctx, src, img, []string{dir}, capread.Catalog)
	if err != nil {
		return err
	}
	fbc, err := catalog.Parse(files)
	if err != nil {
		return err
	}
	sel := fbc.All()
	sel.Drop(failed)
	out, err := fbc.Render(sel, dir)
	if err != nil {
		return err
	}
	layer, err := catalog.Layer(dir, catalog.ServeCacheDir(img), out)
	if err != nil {
		return err
	}
	d, mt, size, err := catalog.Rebuild(ctx, s.Cache, r.Digest, layer)
	if err != nil {
		return fmt.Errorf("rebuilding catalog %s without %s: %w", r.Catalog, strings.Join(names, ", "), err)
	}
	s.Log.Warnf("catalog %s: left out %s, whose images did not all mirror; push again once they do", r.Catalog, strings.Join(names, ", "))
	r.Digest, r.MediaType, r.Size = d, mt, size
	return nil
}
