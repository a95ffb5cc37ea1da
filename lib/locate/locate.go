// Package locate answers, once for every stage, where a record's image is
// read from: the cache that holds it, the local OCI layout an oci://
// source names, or its source registry (through registries.conf mirrors).
// The copy stage (ocm-fetch, ocm-push, their dry runs) and the sharder
// (--shard) both ask it, so a part computes its share from the same place
// its copy reads.
package locate

import (
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/store"
)

// Locator finds where records' images are read from.
type Locator struct {
	// Cache is read first when it holds the image (ocm-push --cache, the
	// sharder). An image ocm-plan built (record.Built) has no other place:
	// one Cache lacks is record.ErrNotBuilt.
	Cache *cache.Cache
	// Source reaches source registries.
	Source *registry.Client
	// IntoCache: the stage writes into the cache (ocm-fetch). Cache is not
	// read, and a built image is left to the copy, which finds it there or
	// fails with record.ErrNotBuilt.
	IntoCache bool
}

// Location is where one image is read from.
type Location struct {
	Reader store.Reader
	// Repo is the source registry repository Reader reads, nil when the
	// image is read from the cache or a layout.
	Repo *registry.Repo
}

// Locate returns where r's image is read from.
func (l *Locator) Locate(r *record.Record) (Location, error) {
	if !l.IntoCache {
		if l.Cache != nil {
			if ok, _ := l.Cache.Has(r.Digest); ok {
				return Location{Reader: l.Cache}, nil
			}
		}
		if err := r.CheckBuilt(false); err != nil {
			return Location{}, err
		}
	}
	if refs.IsOCI(r.Source) {
		dir, err := refs.OCIDir(r.Source)
		if err != nil {
			return Location{}, err
		}
		return Location{Reader: &cache.Cache{Dir: dir}}, nil
	}
	name, err := l.Source.SourceRepo(r.Source)
	if err != nil {
		return Location{}, err
	}
	repo := &registry.Repo{Client: l.Source, Name: name}
	return Location{Reader: repo, Repo: repo}, nil
}
