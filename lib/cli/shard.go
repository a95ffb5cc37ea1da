package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/locate"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/shard"
)

// Shard is --shard INDEX/N, or --shards N with the index in
// JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).
type Shard struct {
	flag   string
	shards int
}

// Register adds --shard and --shards to fs.
func (s *Shard) Register(fs *pflag.FlagSet) {
	fs.StringVar(&s.flag, "shard", "", "handle only part INDEX of N of the records (e.g. 0/3); images sharing blobs, a catalog with its operators and a release stay in one part")
	fs.IntVar(&s.shards, "shards", 0, "as --shard, with INDEX taken from $"+shard.EnvIndex+" (set in the pods of a Kubernetes Indexed Job)")
}

// Spec resolves the flags and the environment.
func (s *Shard) Spec() (shard.Spec, error) { return shard.Parse(s.flag, s.shards, os.Getenv) }

// Filter reads every record of in and returns a reader of those in part sp,
// in input order. Bad input is returned as such (exit 2); a manifest that
// cannot be read fails the run (exit 1: all parts must agree on the split).
func (c *Common) Filter(ctx context.Context, in io.Reader, sp shard.Spec, blobs shard.Blobs) (io.Reader, int, error) {
	if !sp.On() {
		return in, -1, nil
	}
	recs, err := record.ReadAll(in, "stdin")
	if err != nil {
		return nil, pipeline.ExitUsage, err
	}
	mine, err := shard.Select(ctx, recs, sp, blobs, max(c.ImageWorkers, 4))
	if err != nil {
		return nil, pipeline.ExitImageFailed, err
	}
	var buf bytes.Buffer
	w := record.NewWriter(&buf)
	for _, r := range mine {
		if err := w.Write(r); err != nil {
			return nil, pipeline.ExitUsage, err
		}
	}
	c.Log.Infof("shard %s: %d of %d images", sp, len(mine), len(recs))
	return &buf, -1, nil
}

// ShardBlobs lists an image's blobs from where the stage reads it
// (locate.Locator: the cache when it holds the image, an oci:// layout, or
// its source registry). A built image the cache lacks is left to the stage,
// which fails it.
func ShardBlobs(src *registry.Client, cch *cache.Cache) shard.Blobs {
	l := &locate.Locator{Cache: cch, Source: src}
	return func(ctx context.Context, r *record.Record) ([]manifest.Descriptor, error) {
		if r.Digest == "" {
			return nil, nil // the stage fails it: nothing to copy
		}
		loc, err := l.Locate(r)
		if errors.Is(err, record.ErrNotBuilt) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		d, err := cache.Blobs(ctx, loc.Reader, r.Digest, "", r.Selection())
		if loc.Repo != nil && registry.NotFound(err) {
			return nil, fmt.Errorf("%w: %v", shard.ErrMissing, err)
		}
		return d, err
	}
}
