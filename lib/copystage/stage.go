// Package copystage is the stage behind ocm-fetch and ocm-push: it copies
// each record's image from where it is (the cache, a local OCI layout, or
// its source registry) to one destination, the cache (fetch) or a mirror
// registry (push). The destination is the only difference; the steps only
// one of them takes are options of the Stage.
package copystage

import (
	"context"
	"fmt"

	"github.com/ocm-mirror/ocm/lib/attach"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/dryrun"
	"github.com/ocm-mirror/ocm/lib/locate"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/releasesig"
	"github.com/ocm-mirror/ocm/lib/store"
)

// Stage copies records' images to the mirror Dest reaches (push) or, when
// Dest is nil, into Cache (fetch).
type Stage struct {
	Engine *copier.Engine
	Source *registry.Client // source registries
	// Cache is a fetch's destination; a push reads the images it holds
	// from it (nil: no cache).
	Cache *cache.Cache
	Log   *logging.Logger
	// DryRun, when set, copies nothing: it notes each image and whether the
	// destination lacks it.
	DryRun *dryrun.Report
	// NoAttachments (--remove-signatures) copies images without their
	// signatures, attestations, SBOMs and referrers.
	NoAttachments bool
	// MaxAttachments (--max-attachments) is how many attachments one image
	// may carry; an image with more fails (0: record.DefaultAttachments).
	MaxAttachments int

	// Push: the mirror registry, its root, and how deep its repositories go.
	// A push refuses a record bound for a target an earlier one holds with
	// another image (Seen), and rebuilds a catalog without the bundles whose
	// images failed (Barrier).
	Dest      *registry.Client
	Mirror    refs.Mirror
	MaxNested int
	// Abort (push), when set, is called when a release image fails:
	// releases are all or nothing, so the run stops.
	Abort func(error)

	// Signatures (fetch) is the store release payload signatures the cache
	// lacks are fetched from again.
	Signatures *releasesig.Store
	// Verify (fetch --verify), when set, has the cached blobs of each image
	// hashed, not only size-checked, before the cache is taken as holding it.
	Verify *cache.Hashed

	failed  incomplete
	targets targets
}

func (s *Stage) push() bool { return s.Dest != nil }

// Name is the stage's name in records: push or fetch.
func (s *Stage) Name() string {
	if s.push() {
		return "push"
	}
	return "fetch"
}

// Process copies one record's image and sets its status (and, for a push,
// its target).
func (s *Stage) Process(ctx context.Context, r *record.Record) {
	if err := s.process(ctx, r); err != nil {
		if s.push() {
			s.failed.add(r)
		}
		r.Fail(s.Name(), err)
		s.Log.Errorf("%s: %v", r.Name(), err)
		if s.Abort != nil && (r.Origin == record.OriginRelease || r.Origin == record.OriginReleaseComponent) && ctx.Err() == nil {
			s.Abort(fmt.Errorf("release %s image %s failed; stopping (release images are all or nothing): %w", r.Release, r.Source, err))
		}
		return
	}
	if s.DryRun == nil {
		r.Status, r.Stage, r.Error = record.StatusCached, "fetch", ""
		if s.push() {
			r.Status, r.Stage = record.StatusPushed, "push"
		}
	}
}

// target is where one record's image goes.
type target struct {
	w    store.Writer
	ref  string // the tag it is written under; for the cache, its source
	name string // host/repo:tag, or oci:CACHE:source
	tag  string // the mirror's tag ("" for the cache)
	repo string // the mirror's repository, as claimed ("" for the cache)
}

// target names where r's image goes.
func (s *Stage) target(r *record.Record) (*target, error) {
	if !s.push() {
		return &target{w: s.Cache, ref: r.Source, name: "oci:" + s.Cache.Dir + ":" + r.Source}, nil
	}
	p, err := s.Mirror.Place(r.Destination, s.MaxNested)
	if err != nil {
		return nil, err
	}
	repo, err := s.Dest.Repository(p.Registry + "/" + p.Repo)
	if err != nil {
		return nil, fmt.Errorf("destination %s/%s: %w", p.Registry, p.Repo, err)
	}
	return &target{w: &registry.Repo{Client: s.Dest, Name: repo}, ref: p.Tag, tag: p.Tag, repo: p.Repo, name: p.Ref}, nil
}

// has tells the dry run whether t holds r's image whole (a manifest is
// written last, so a manifest there means a whole image; the mirror's tag
// must name it too).
func (s *Stage) has(ctx context.Context, t *target, r *record.Record) (bool, error) {
	if !s.push() {
		has, _ := s.Cache.Has(r.Digest)
		return has, nil
	}
	has, err := t.w.HasManifest(ctx, r.Digest)
	if err == nil && has {
		has, err = t.w.TagIs(ctx, t.tag, r.Digest)
	}
	if err != nil {
		return false, fmt.Errorf("checking %s: %w", t.name, err)
	}
	return has, nil
}

// source is where r's image is read from (locate.Locator): on a push, the
// cache when it holds it; a local OCI layout; else its source registry
// (repo).
func (s *Stage) source(r *record.Record) (store.Reader, *registry.Repo, error) {
	l := locate.Locator{Cache: s.Cache, Source: s.Source, IntoCache: !s.push()}
	loc, err := l.Locate(r)
	return loc.Reader, loc.Repo, err
}

func (s *Stage) process(ctx context.Context, r *record.Record) error {
	// What push needs (its record reader has checked the syntax): an image
	// that could never be pushed is not worth fetching or carrying.
	if r.Digest == "" || r.Destination == "" {
		if s.push() {
			return fmt.Errorf("record has no digest or destination; fix: feed ocm-push the output of ocm-plan, ocm-fetch or ocm-unpack")
		}
		return fmt.Errorf("record has no digest or destination; fix: feed ocm-fetch the output of ocm-plan")
	}
	if err := s.refusal(r); err != nil {
		return err
	}
	if s.push() && r.Origin == record.OriginCatalog && s.DryRun == nil {
		if err := s.dropFailedBundles(ctx, r); err != nil {
			return err
		}
	}
	var src store.Reader
	var repo *registry.Repo
	t, err := s.target(r)
	if err == nil {
		src, repo, err = s.source(r)
	}
	if err != nil {
		return err
	}
	if s.DryRun != nil {
		has, err := s.has(ctx, t, r)
		if err != nil {
			return err
		}
		from, to := "docker://"+r.Source, t.name
		if refs.IsOCI(r.Source) {
			from = r.Source
		}
		if s.push() {
			to = "docker://" + t.name
		}
		s.DryRun.Add(from, to, !has)
		return nil
	}
	fromRegistry := repo != nil
	if !s.push() && fromRegistry {
		if has, _ := s.Cache.Has(r.Digest); !has {
			if err := r.CheckBuilt(false); err != nil {
				return err
			}
		}
		// Its manifest cached, the copy would look no further.
		removed, err := s.Cache.DropDamaged(r.Digest, r.MediaType, r.Size, r.Selection(), s.Verify)
		if err != nil {
			return err
		}
		if len(removed) > 0 {
			s.Log.Warnf("%s: the cache held %d blobs of it missing or damaged (%v): fetching them again", r.Name(), len(removed), removed)
		}
	}
	res, err := s.Engine.CopySparse(ctx, src, r.Digest, t.w, t.ref, r.Selection())
	if err != nil && !s.push() && !fromRegistry {
		return fmt.Errorf("%w; fix: run ocm-plan with the same --cache as ocm-fetch (a filtered catalog is rebuilt there)", err)
	}
	if err != nil {
		return err
	}
	if err := r.CheckMediaType(res.MediaType); err != nil {
		return err
	}
	// A payload's signatures travel with it (archives, disk to mirror).
	if !s.push() && fromRegistry && len(r.Signatures) > 0 {
		if _, err := releasesig.Load(ctx, s.Cache, s.Signatures, r); err != nil {
			return err
		}
	}
	// A fetch caches what it finds attached at the source: the graph image
	// and chart artifacts are built by ocm-plan into the cache (no source
	// registry to ask: localhost/..., nothing attached), and a layout has no
	// registry to look attachments up in. They are looked up after the
	// image is read: where it was served from (a registries.conf mirror)
	// is where they are.
	if !s.NoAttachments && (s.push() || (fromRegistry && !r.Built())) {
		reserved, err := s.findAttachments(ctx, r, src, repo, t)
		if err != nil {
			return err
		}
		if err := s.copyAttachments(ctx, r, src, t, reserved); err != nil {
			return err
		}
	}
	if s.push() {
		r.Target = t.name
	}
	if r.PulledFrom == "" && !res.UpToDate && fromRegistry {
		r.PulledFrom = s.Source.ServedFrom(repo.Name.Name())
	}
	switch {
	case res.UpToDate && s.push():
		s.Log.Debugf("%s: already at %s", r.Name(), r.Target)
	case res.UpToDate:
		s.Log.Debugf("%s: already in the cache", r.Name())
	case s.push():
		s.Log.Infof("%s: pushed to %s", r.Name(), r.Target)
	default:
		s.Log.Infof("%s: cached %s", r.Name(), r.Digest)
	}
	return nil
}

// findAttachments names in r what is attached to its image. From a source
// registry they are looked up now (so a signature added since the last run
// comes too); from the cache, r names them (ocm-fetch found them). A push
// claims the tags they go under at the mirror and returns those it must
// not write.
func (s *Stage) findAttachments(ctx context.Context, r *record.Record, src store.Reader, repo *registry.Repo, t *target) (func(string) bool, error) {
	max := s.MaxAttachments
	if max <= 0 {
		max = record.DefaultAttachments
	}
	if repo != nil {
		subjects, err := attach.Subjects(ctx, src, r.Digest, r.MediaType, r.Selection())
		if err != nil {
			return nil, err
		}
		f := &attach.Finder{Client: repo.Client, Repo: repo.Name, Max: max, Skip: func(a record.Attachment, why error) {
			s.Log.Warnf("%s: %s %s of %s not copied: %v; the image is copied without it (fix, to silence this: ask its publisher to remove it)", r.Name(), a.Kind, attachmentName(a), a.Subject, why)
		}}
		atts, err := f.Find(ctx, subjects)
		if err != nil {
			return nil, err
		}
		r.Attachments = atts
	} else if err := attach.Bound(r.Attachments, max); err != nil {
		return nil, err
	}
	if !s.push() {
		return nil, nil
	}
	return s.claimAttachments(r, t.repo, t.tag)
}

// attachmentName is an attachment's tag and digest, or its digest.
func attachmentName(a record.Attachment) string {
	if a.Tag != "" {
		return a.Tag + " (" + a.Digest + ")"
	}
	return a.Digest
}

// copyAttachments copies what r names attached to its image next to it.
func (s *Stage) copyAttachments(ctx context.Context, r *record.Record, src store.Reader, t *target, reserved func(string) bool) error {
	if len(r.Attachments) == 0 {
		return nil
	}
	moved, err := attach.Copy(ctx, s.Engine, src, t.w, r.Attachments, s.push(), reserved)
	if err != nil && s.push() {
		return fmt.Errorf("%w; fix: rerun ocm-fetch for this image so the cache holds its attachments, or push with --remove-signatures", err)
	}
	if err != nil {
		return err
	}
	s.Engine.Stats.Attachments.Add(int64(len(r.Attachments)))
	s.Engine.Stats.AttachedCopied.Add(int64(moved))
	if moved > 0 {
		verb := "cached"
		if s.push() {
			verb = "copied"
		}
		s.Log.Infof("%s: attachments %s: %s", r.Name(), verb, attach.Summary(r.Attachments))
	}
	return nil
}
