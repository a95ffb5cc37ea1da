// Package plan turns an image set configuration into image records: it
// resolves every tag to the digest that later stages copy, applies
// blockedImages, and names each image's destination in the mirror.
package plan

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cincinnati"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/helm"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/policy"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/releasesig"
	"github.com/ocm-mirror/ocm/lib/selection"
	"github.com/ocm-mirror/ocm/lib/workpool"
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
	// Signatures fetches and verifies each release payload's signatures
	// (kept in Cache when there is one). Nil plans releases without
	// signatures: deletion, or IgnoreSignatures.
	Signatures *releasesig.Verifier
	// IgnoreSignatures: the user chose unsigned releases; each is logged.
	IgnoreSignatures bool
	// NoSparse plans images with platforms whole (--no-sparse): for a
	// mirror that refuses sparse indexes.
	NoSparse bool
	// payloadPlatforms are mirror.platform.platforms, unless NoSparse: the
	// multi payload and its components are planned sparse.
	payloadPlatforms []string
	// Policy, when set, checks each resolved image before it is emitted
	// (--secure-policy): one it refuses is emitted failed.
	Policy *policy.Checker
	// EveryChannel selects every channel of a package no channel is named
	// for, as oc-mirror 4.18+ does (--every-channel); else the default
	// channel only, as the reference's table says.
	EveryChannel bool

	described sync.Map // digest -> description
	kubeVirt  bool     // mirror.platform.kubeVirtContainer of the plan

	blocked *selection.Blocklist // of the configuration being planned

	// HelmCharts reads mirror.helm (nil: plain HTTP client, HelmLimits).
	HelmCharts *helm.Collector
	HelmLimits helm.Limits
}

// Plan returns the records of cfg, in configuration order. Images that cannot
// be resolved come back as failed records; the error is only for problems
// that stop the whole plan.
func (p *Planner) Plan(ctx context.Context, cfg *config.Config) ([]*record.Record, error) {
	var recs []*record.Record
	err := p.Stream(ctx, cfg, func(r *record.Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// Stream is Plan handing each record to emit as soon as it and every
// earlier one are known, so the next stage starts copying while additional
// images are still being resolved. Releases and operators come first and
// whole: a problem there stops the plan before anything is emitted.
func (p *Planner) Stream(ctx context.Context, cfg *config.Config, emit func(*record.Record) error) error {
	if p.Policy != nil {
		next := emit
		emit = func(r *record.Record) error {
			// A catalog was judged as published before it was read
			// (operator); its record may name ocm's rebuild.
			if r.Origin != record.OriginCatalog {
				p.Policy.Vet(ctx, r, p.Log)
			}
			return next(r)
		}
	}
	blocked, err := selection.NewBlocklist(cfg.Spec.BlockedImages)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	p.blocked = blocked
	recs, err := p.Releases(ctx, cfg.Spec.Platform)
	if err != nil {
		return err
	}
	if err := blocked.CheckReleases(recs); err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	if pl := cfg.Spec.Platform; pl != nil && pl.Graph && cfg.Kind == config.KindImageSet {
		if p.Graph == nil {
			return fmt.Errorf("%s: mirror.platform.graph: the graph image is built into a cache; fix: pass --cache DIR to ocm-plan, and the same --cache to ocm-push", cfg.Path)
		}
		g, err := p.Graph.Build(ctx)
		if err != nil {
			return err
		}
		recs = append(recs, g)
	}
	recs = append(recs, p.Operators(ctx, cfg.Spec.Operators, cfg.Kind == config.KindDelete)...)
	add, err := p.helmRecords(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	for _, img := range cfg.Spec.AdditionalImages {
		r, err := additionalRecord(img)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.Path, err)
		}
		if len(img.Platforms) > 0 && !p.NoSparse {
			r.Sparse, r.Platforms = true, img.Platforms
		}
		add = append(add, r)
	}
	// Two different images bound for one destination stop the plan before
	// anything is emitted: the mirror would keep only the last one pushed.
	early := contested(recs, add)
	if len(early) > 0 {
		if err := p.resolveAll(ctx, early, blocked, func(*record.Record) error { return nil }); err != nil {
			return err
		}
	}
	claimed := claims{}
	for _, r := range append(append([]*record.Record(nil), recs...), early...) {
		if err := claimed.add(r); err != nil {
			return err
		}
	}
	// The same image listed twice keeps its first record. A component
	// shared by several releases keeps one record per release: each
	// release's tag names it in the mirror.
	seen := map[string]bool{}
	out := func(r *record.Record) error {
		key := string(r.Origin) + " " + r.Source + " " + r.Destination
		if seen[key] {
			return nil
		}
		seen[key] = true
		if err := claimed.add(r); err != nil {
			return err
		}
		return emit(r)
	}
	for _, r := range recs {
		if err := out(r); err != nil {
			return err
		}
	}
	return p.resolveAll(ctx, add, blocked, out)
}

// resolveAll fills digest, destination and manifest facts, concurrently,
// and hands the records to emit in their order as they are done.
func (p *Planner) resolveAll(ctx context.Context, recs []*record.Record, blocked *selection.Blocklist, emit func(*record.Record) error) error {
	workers := p.Workers
	if workers <= 0 {
		workers = 8
	}
	done := make([]chan struct{}, len(recs))
	for i := range done {
		done[i] = make(chan struct{})
	}
	emitted := make(chan error, 1)
	go func() {
		var err error
		for i, r := range recs {
			<-done[i]
			if err == nil {
				err = emit(r)
			}
		}
		emitted <- err
	}()
	// Each call returns nil: a failure belongs to its record, not the run.
	_ = workpool.Run(ctx, len(recs), workers, func(ctx context.Context, i int) error {
		defer close(done[i])
		r := recs[i]
		// Resolved earlier (contested), or ocm's own (a chart to delete:
		// no source registry has it; the mirror is asked when deleting).
		if r.Done() || r.Digest != "" || r.Built() {
			return nil
		}
		if why := blocked.MatchRecord(r); why != "" {
			r.Status, r.Error = record.StatusSkipped, why
			return nil
		}
		if err := p.resolve(ctx, r); err != nil {
			r.Fail("plan", err)
			p.Log.Errorf("%s: %v", r.Source, err)
			return nil
		}
		// A block by digest can only match once the digest is known.
		if why := blocked.MatchRecord(r); why != "" {
			r.Status, r.Error = record.StatusSkipped, why
		}
		return nil
	})
	return <-emitted
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
	if r.Destination == "" { // else set by targetRepo/targetTag
		r.Destination = dest.Path + ":" + dest.Tag
	}
	repo, err := p.Client.Repository(ref.Context().Name())
	if err != nil {
		return err
	}
	want := ref.Identifier()
	r.Tag = refs.TagOf(r.Source)
	if dg, ok := refs.DigestOf(r.Source); ok {
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
	chosen := r.Platforms
	r.Digest, r.MediaType, r.Size, r.Platforms = digest, mt, int64(len(body)), m.Platforms()
	if r.Sparse {
		return sparse(r, chosen)
	}
	return nil
}

// sparse narrows r (described: its platforms are all its index's) to the
// chosen platforms, the ones copied; a single manifest is copied whole.
func sparse(r *record.Record, chosen []string) error {
	if !manifest.IsIndex(r.MediaType) {
		r.Sparse = false
		return nil
	}
	sel, all := manifest.Select(chosen), r.Platforms
	r.Sparse, r.Platforms = true, nil
	for _, p := range all {
		if sel.KeepsName(p) {
			r.Platforms = append(r.Platforms, p)
		}
	}
	if len(r.Platforms) == 0 {
		return fmt.Errorf("the index has none of the platforms %s (it has %s); fix: choose among its platforms in the configuration's platforms", strings.Join(chosen, ", "), strings.Join(all, ", "))
	}
	return nil
}
