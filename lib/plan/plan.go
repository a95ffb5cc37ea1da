// Package plan turns an image set configuration into image records: it
// resolves every tag to the digest that later stages copy, applies
// blockedImages, and names each image's destination in the mirror.
package plan

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cincinnati"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// Planner resolves images against their source registries.
type Planner struct {
	Client     *registry.Client
	Cincinnati *cincinnati.Client // nil: the default update service
	Log        *logging.Logger
	Workers    int // resolutions at once (default 8)
	// Graph builds the update graph image (mirror.platform.graph); nil when
	// no cache was given to build it in.
	Graph interface {
		Build(context.Context) (*record.Record, error)
	}
	// Cache and Engine rebuild filtered catalogs (nil: only whole catalogs).
	Cache  *cache.Cache
	Engine *copier.Engine

	described sync.Map // digest -> description
}

// Plan returns the records of cfg, in configuration order. Images that cannot
// be resolved come back as failed records; the error is only for problems
// that stop the whole plan.
func (p *Planner) Plan(ctx context.Context, cfg *config.Config) ([]*record.Record, error) {
	blocked, err := newBlocklist(cfg.Spec.BlockedImages)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	recs, err := p.Releases(ctx, cfg.Spec.Platform)
	if err != nil {
		return nil, err
	}
	if pl := cfg.Spec.Platform; pl != nil && pl.Graph && cfg.Kind == config.KindImageSet {
		if p.Graph == nil {
			return nil, fmt.Errorf("%s: mirror.platform.graph: the graph image is built into a cache; fix: pass --cache DIR to ocm-plan, and the same --cache to ocm-push", cfg.Path)
		}
		g, err := p.Graph.Build(ctx)
		if err != nil {
			return nil, err
		}
		recs = append(recs, g)
	}
	recs = append(recs, p.Operators(ctx, cfg.Spec.Operators, cfg.Kind == config.KindDelete)...)
	var add []*record.Record
	for _, img := range cfg.Spec.AdditionalImages {
		add = append(add, &record.Record{V: record.Version, Origin: record.OriginAdditional, Source: img.Name, Status: record.StatusPlanned, Stage: "plan"})
	}
	p.resolveAll(ctx, add, blocked)
	recs = append(recs, add...)
	return dedupe(recs), nil
}

// resolveAll fills digest, destination and manifest facts, concurrently.
func (p *Planner) resolveAll(ctx context.Context, recs []*record.Record, blocked *blocklist) {
	workers := p.Workers
	if workers <= 0 {
		workers = 8
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for _, r := range recs {
		if why := blocked.match(r.Source, ""); why != "" {
			r.Status, r.Error = record.StatusSkipped, why
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := p.resolve(ctx, r); err != nil {
				r.Fail("plan", err)
				p.Log.Errorf("%s: %v", r.Source, err)
				return
			}
			// A block by digest can only match once the digest is known.
			if why := blocked.match(r.Source, r.Digest); why != "" {
				r.Status, r.Error = record.StatusSkipped, why
			}
		}()
	}
	wg.Wait()
}

// resolve reads the image's manifest from its registry.
func (p *Planner) resolve(ctx context.Context, r *record.Record) error {
	ref, err := name.ParseReference(r.Source)
	if err != nil {
		return fmt.Errorf("bad reference %q: %w", r.Source, err)
	}
	dest, err := refs.Destination(r.Source)
	if err != nil {
		return err
	}
	r.Destination = dest.Path + ":" + dest.Tag
	repo, err := p.Client.Repository(ref.Context().Name())
	if err != nil {
		return err
	}
	want := ref.Identifier()
	r.Tag = refs.TagOf(r.Source)
	if dg, ok := digestOf(r.Source); ok {
		want = dg
	}
	body, mt, digest, err := p.Client.Manifest(ctx, repo, want)
	if err != nil {
		if registry.NotFound(err) {
			return fmt.Errorf("image not found in %s (%v); fix: check the name, tag or digest in the configuration", repo.RegistryStr(), err)
		}
		return fmt.Errorf("resolving %s: %w", r.Source, err)
	}
	m, mt, err := manifest.Parse(body, mt)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Source, err)
	}
	r.Digest, r.MediaType, r.Size, r.Platforms = digest, mt, int64(len(body)), m.Platforms()
	return nil
}

// digestOf returns the digest of "repo:tag@sha256:..." or "repo@sha256:...".
func digestOf(s string) (string, bool) {
	if d, err := name.NewDigest(s); err == nil {
		return d.DigestStr(), true
	}
	return "", false
}

// dedupe drops later records with the same source and destination (the same
// image listed twice). A component shared by several releases keeps one
// record per release: each release's tag names it in the mirror.
func dedupe(recs []*record.Record) []*record.Record {
	seen := map[string]bool{}
	out := recs[:0]
	for _, r := range recs {
		key := string(r.Origin) + " " + r.Source + " " + r.Destination
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, r)
	}
	return out
}
