// Package push is the ocm-push stage: it copies each image to the mirror
// registry, from the local cache when the cache holds it, otherwise straight
// from its source registry (mirror to mirror).
package push

import (
	"context"
	"fmt"

	"github.com/ocm-mirror/ocm/lib/attach"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/dryrun"
	"github.com/ocm-mirror/ocm/lib/fetch"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/store"
)

// Stage pushes records' images to Mirror.
type Stage struct {
	Engine    *copier.Engine
	Source    *registry.Client // source registries (mirror to mirror)
	Dest      *registry.Client // the mirror registry
	Cache     *cache.Cache     // nil: no cache
	Mirror    refs.Mirror
	MaxNested int
	Log       *logging.Logger
	// DryRun, when set, copies nothing: it notes each image and whether the
	// mirror lacks it.
	DryRun *dryrun.Report
	// NoAttachments (--remove-signatures) copies images without their
	// signatures, attestations, SBOMs and referrers.
	NoAttachments bool
	// Abort, when set, is called when a release image fails: releases are
	// all or nothing, so the run stops.
	Abort func(error)

	failed  incomplete
	targets targets
}

// Process pushes one record's image and sets its status and target.
func (s *Stage) Process(ctx context.Context, r *record.Record) {
	if err := s.process(ctx, r); err != nil {
		s.failed.add(r)
		r.Fail("push", err)
		s.Log.Errorf("%s: %v", r.Name(), err)
		if s.Abort != nil && (r.Origin == record.OriginRelease || r.Origin == record.OriginReleaseComponent) && ctx.Err() == nil {
			s.Abort(fmt.Errorf("release %s image %s failed; stopping (release images are all or nothing): %w", r.Release, r.Source, err))
		}
		return
	}
	if s.DryRun == nil {
		r.Status, r.Stage, r.Error = record.StatusPushed, "push", ""
	}
}

func (s *Stage) process(ctx context.Context, r *record.Record) error {
	if r.Digest == "" || r.Destination == "" {
		return fmt.Errorf("record has no digest or destination; fix: feed ocm-push the output of ocm-plan, ocm-fetch or ocm-unpack")
	}
	if err := s.refusal(r); err != nil {
		return err
	}
	if r.Origin == record.OriginCatalog && s.DryRun == nil {
		if err := s.dropFailedBundles(ctx, r); err != nil {
			return err
		}
	}
	path, tag, err := refs.SplitDestination(r.Destination)
	if err != nil {
		return err
	}
	repoName := s.Mirror.Repo(path, s.MaxNested)
	dstRepo, err := s.Dest.Repository(s.Mirror.Registry + "/" + repoName)
	if err != nil {
		return fmt.Errorf("destination %s/%s: %w", s.Mirror.Registry, repoName, err)
	}
	var src store.Reader
	srcRepo := ""
	if s.Cache != nil {
		if ok, _ := s.Cache.Has(r.Digest); ok {
			src = s.Cache
		}
	}
	if err := r.CheckBuilt(src != nil); err != nil {
		return err
	}
	if src == nil && refs.IsOCI(r.Source) {
		// A layout has no registry: the image comes from the layout itself
		// (a catalog mirrored whole; a rebuilt one is only in the cache).
		dir, err := refs.OCIDir(r.Source)
		if err != nil {
			return err
		}
		src = &cache.Cache{Dir: dir}
	}
	if src == nil {
		repo, err := fetch.SourceRepo(s.Source, r.Source)
		if err != nil {
			return err
		}
		src = &registry.Repo{Client: s.Source, Name: repo}
		srcRepo = repo.Name()
	}
	dst := &registry.Repo{Client: s.Dest, Name: dstRepo}
	target := fmt.Sprintf("%s/%s:%s", s.Mirror.Registry, repoName, tag)
	if s.DryRun != nil {
		has, err := dst.HasManifest(ctx, r.Digest)
		if err == nil && has {
			has, err = dst.TagIs(ctx, tag, r.Digest)
		}
		if err != nil {
			return fmt.Errorf("checking %s: %w", target, err)
		}
		from := "docker://" + r.Source
		if refs.IsOCI(r.Source) {
			from = r.Source
		}
		s.DryRun.Add(from, "docker://"+target, !has)
		return nil
	}
	res, err := s.Engine.Copy(ctx, src, r.Digest, dst, tag)
	if err != nil {
		return err
	}
	if err := r.CheckMediaType(res.MediaType); err != nil {
		return err
	}
	if !s.NoAttachments {
		if err := s.attachments(ctx, r, src, dst, tag); err != nil {
			return err
		}
	}
	r.Target = target
	if r.PulledFrom == "" && !res.UpToDate && srcRepo != "" {
		r.PulledFrom = s.Source.ServedFrom(srcRepo)
	}
	if res.UpToDate {
		s.Log.Debugf("%s: already at %s", r.Name(), r.Target)
	} else {
		s.Log.Infof("%s: pushed to %s", r.Name(), r.Target)
	}
	return nil
}

// attachments copies what is attached to r's image. From a source registry
// they are looked up now (so a signature added since the last run comes
// too) and named in r; from the cache, r names them (ocm-fetch found them).
func (s *Stage) attachments(ctx context.Context, r *record.Record, src store.Reader, dst store.Writer, tag string) error {
	if rs, ok := src.(*registry.Repo); ok {
		subjects, err := attach.Subjects(ctx, src, r.Digest, r.MediaType)
		if err != nil {
			return err
		}
		f := &attach.Finder{Client: rs.Client, Repo: rs.Name}
		if r.Attachments, err = f.Find(ctx, subjects); err != nil {
			return err
		}
	}
	if len(r.Attachments) == 0 {
		return nil
	}
	moved, err := attach.Copy(ctx, s.Engine, src, dst, r.Attachments, true, tag)
	if err != nil {
		return fmt.Errorf("%w; fix: rerun ocm-fetch for this image so the cache holds its attachments, or push with --remove-signatures", err)
	}
	s.Engine.Stats.Attachments.Add(int64(len(r.Attachments)))
	s.Engine.Stats.AttachedCopied.Add(int64(moved))
	if moved > 0 {
		s.Log.Infof("%s: attachments copied: %s", r.Name(), attach.Summary(r.Attachments))
	}
	return nil
}
