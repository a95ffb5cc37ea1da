// Package fetch is the ocm-fetch stage: it copies each planned image from its
// source registry into the local cache.
package fetch

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/attach"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/dryrun"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

// Stage copies records' images into Cache.
type Stage struct {
	Engine *copier.Engine
	Source *registry.Client
	Cache  *cache.Cache
	Log    *logging.Logger
	// DryRun, when set, copies nothing: it notes each image and whether the
	// cache lacks it.
	DryRun *dryrun.Report
	// NoAttachments (--remove-signatures) caches images without their
	// signatures, attestations, SBOMs and referrers.
	NoAttachments bool
	// Signatures is the store release payload signatures the cache lacks
	// are fetched from again.
	Signatures *releasesig.Store
}

// Process fetches one record's image and sets its status.
func (s *Stage) Process(ctx context.Context, r *record.Record) {
	if err := s.process(ctx, r); err != nil {
		r.Fail("fetch", err)
		s.Log.Errorf("%s: %v", r.Name(), err)
		return
	}
	if s.DryRun == nil {
		r.Status, r.Stage, r.Error = record.StatusCached, "fetch", ""
	}
}

func (s *Stage) process(ctx context.Context, r *record.Record) error {
	// What push needs (its record reader has checked the syntax): an image
	// that could never be pushed is not worth fetching or carrying.
	if r.Digest == "" || r.Destination == "" {
		return fmt.Errorf("record has no digest or destination; fix: feed ocm-fetch the output of ocm-plan")
	}
	if refs.IsOCI(r.Source) {
		return s.fromLayout(ctx, r)
	}
	repo, err := SourceRepo(s.Source, r.Source)
	if err != nil {
		return err
	}
	src := &registry.Repo{Client: s.Source, Name: repo}
	dst := s.Cache
	if s.DryRun != nil {
		// Manifests are cached last, so a cached manifest means a whole image.
		has, _ := s.Cache.Has(r.Digest)
		s.DryRun.Add("docker://"+r.Source, "oci:"+s.Cache.Dir+":"+r.Source, !has)
		return nil
	}
	if has, _ := s.Cache.Has(r.Digest); !has {
		if err := r.CheckBuilt(false); err != nil {
			return err
		}
	}
	removed, err := s.Cache.DropDamaged(r.Digest, r.MediaType, r.Size)
	if err != nil {
		return err
	}
	if len(removed) > 0 {
		s.Log.Warnf("%s: the cache held %d blobs of it missing or damaged (%v): fetching them again", r.Name(), len(removed), removed)
	}
	res, err := s.Engine.Copy(ctx, src, r.Digest, dst, r.Source)
	if err != nil {
		return err
	}
	if err := r.CheckMediaType(res.MediaType); err != nil {
		return err
	}
	// A payload's signatures travel with it (archives, disk to mirror).
	if len(r.Signatures) > 0 {
		if _, err := releasesig.Load(ctx, s.Cache, s.Signatures, r); err != nil {
			return err
		}
	}
	// The graph image and chart artifacts are built by ocm-plan into the
	// cache: no source registry to ask (localhost/...), nothing attached.
	if !s.NoAttachments && !r.Built() {
		// Looked up on every run: a signature added upstream since is cached too.
		subjects, err := attach.Subjects(ctx, src, r.Digest, r.MediaType)
		if err != nil {
			return err
		}
		f := &attach.Finder{Client: s.Source, Repo: repo}
		if r.Attachments, err = f.Find(ctx, subjects); err != nil {
			return err
		}
		moved, err := attach.Copy(ctx, s.Engine, src, dst, r.Attachments, false, "")
		if err != nil {
			return err
		}
		s.Engine.Stats.Attachments.Add(int64(len(r.Attachments)))
		s.Engine.Stats.AttachedCopied.Add(int64(moved))
		if moved > 0 {
			s.Log.Infof("%s: attachments cached: %s", r.Name(), attach.Summary(r.Attachments))
		}
	}
	if r.PulledFrom == "" && !res.UpToDate {
		r.PulledFrom = s.Source.ServedFrom(repo.Name())
	}
	if res.UpToDate {
		s.Log.Debugf("%s: already in the cache", r.Name())
	} else {
		s.Log.Infof("%s: cached %s", r.Name(), r.Digest)
	}
	return nil
}

// fromLayout caches a catalog from a local OCI layout (oci:///abs/path).
// ocm-plan has put it in the cache already, rebuilt or whole; a cache that
// lacks it (plan ran with another --cache) gets it from the layout, which
// holds the planned image only when the catalog is mirrored whole. A layout
// has no registry to look attachments up in.
func (s *Stage) fromLayout(ctx context.Context, r *record.Record) error {
	dir, err := refs.OCIDir(r.Source)
	if err != nil {
		return err
	}
	if s.DryRun != nil {
		has, _ := s.Cache.Has(r.Digest)
		s.DryRun.Add(r.Source, "oci:"+s.Cache.Dir+":"+r.Source, !has)
		return nil
	}
	src := &cache.Cache{Dir: dir}
	res, err := s.Engine.Copy(ctx, src, r.Digest, s.Cache, r.Source)
	if err != nil {
		return fmt.Errorf("%w; fix: run ocm-plan with the same --cache as ocm-fetch (a filtered catalog is rebuilt there)", err)
	}
	if err := r.CheckMediaType(res.MediaType); err != nil {
		return err
	}
	if res.UpToDate {
		s.Log.Debugf("%s: already in the cache", r.Name())
	} else {
		s.Log.Infof("%s: cached %s", r.Name(), r.Digest)
	}
	return nil
}

// SourceRepo is the repository of a source reference, as c reaches it.
func SourceRepo(c *registry.Client, source string) (name.Repository, error) {
	ref, err := name.ParseReference(source)
	if err != nil {
		return name.Repository{}, fmt.Errorf("bad source reference %q: %w", source, err)
	}
	return c.Repository(ref.Context().Name())
}
