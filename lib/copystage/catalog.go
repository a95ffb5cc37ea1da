package copystage

import (
	"context"
	"strings"
	"sync"

	"github.com/ocm-mirror/ocm/lib/catalog"
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
	names := strings.Join(catalog.BundleNames(failed), ", ")
	if s.Cache == nil {
		s.Log.Warnf("catalog %s: bundles %s did not mirror, but without --cache the catalog cannot be rebuilt without them", r.Catalog, names)
		return nil
	}
	if ok, _ := s.Cache.Has(r.Digest); !ok {
		s.Log.Warnf("catalog %s: bundles %s did not mirror; the catalog is not in the cache, so it is pushed as planned", r.Catalog, names)
		return nil
	}
	d, mt, size, err := catalog.DropBundles(ctx, s.Cache, r.Catalog, r.Digest, failed)
	if err != nil {
		return err
	}
	s.Log.Warnf("catalog %s: left out %s, whose images did not all mirror; push again once they do", r.Catalog, names)
	if r.BuiltFrom == "" {
		r.BuiltFrom = r.Digest // a catalog mirrored whole is now ocm's rebuild
	}
	r.Digest, r.MediaType, r.Size = d, mt, size
	return nil
}
