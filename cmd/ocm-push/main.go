// Command ocm-push copies the images named by records on stdin to a mirror
// registry, from the cache when it holds them, else from their source
// registry, and writes the records, now pushed, to stdout.
package main

import (
	"context"
	"os"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/dryrun"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/push"
	"github.com/ocm-mirror/ocm/lib/refs"
)

const usage = `usage: ocm-push docker://HOST[:PORT][/PREFIX] [--cache DIR] [flags] < records > pushed.jsonl

Pushes every image of the input records to the mirror: by digest first, then
its tag. Blobs the mirror already has are skipped, blobs pushed to another
repository of the mirror in this run are mounted. With --cache, images the
cache holds are read from it (disk to mirror); the others come straight from
their source (mirror to mirror). Signatures, attestations, SBOMs and OCI
referrers attached to an image go with it (--remove-signatures: none).
Exit 0: all pushed; 1: some image failed (named in the summary); 2: bad
flags or input, or two different images bound for one target (the second
is not pushed); 130: interrupted.`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.Common{Name: "ocm-push"}
	fs := cli.NewFlagSet(c.Name, usage)
	var cacheFlag cli.Cache
	cacheFlag.Register(fs, "read images from this cache when it holds them")
	maxNested := fs.Int("max-nested-paths", 0, "at most this many path components in destination repositories (0: no limit); deeper paths are joined with '-' into the last one")
	// Attachments (signatures, attestations, SBOMs, referrers): oc-mirror's spelling.
	noAttach := fs.Bool("remove-signatures", false, "copy images without their signatures, attestations, SBOMs and OCI referrers")
	var dry cli.DryRun
	dry.Register(fs)
	var shards cli.Shard
	shards.Register(fs)
	var files cli.RecordFiles
	files.Register(fs, true, true)
	c.Register(fs, cli.FlagSource|cli.FlagDest|cli.FlagWorkers)
	if code := c.Parse(fs, args); code >= 0 {
		return code
	}
	part, err := shards.Spec()
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	stdin, stdout, err := files.Open()
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	defer files.Close(false) // unless kept below
	if fs.NArg() != 1 {
		return c.Fatalf(pipeline.ExitUsage, "one destination is required; fix: ocm-push docker://HOST[:PORT][/PREFIX] < records")
	}
	mirror, err := refs.ParseMirror(fs.Arg(0))
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	if *maxNested < 0 {
		return c.Fatalf(pipeline.ExitUsage, "--max-nested-paths must be 0 or more")
	}
	cacheDir, cerr := cacheFlag.Dir()
	if cerr != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", cerr)
	}
	cch, err := cache.Open(cacheDir)
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	src, err := c.SourceClient()
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	dst, err := c.DestClient()
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	sigCtx, interrupted, cancel := cli.Context()
	defer cancel()
	ctx, abort := context.WithCancelCause(sigCtx)
	defer abort(nil)
	in, code, err := c.Filter(ctx, stdin, part, cli.ShardBlobs(src, cch))
	if err != nil {
		return c.Fatalf(code, "%v", err)
	}
	eng := c.Engine()
	st := &push.Stage{Engine: eng, Source: src, Dest: dst, Cache: cch, Mirror: mirror, MaxNested: *maxNested, Log: c.Log, Abort: abort}
	st.NoAttachments = *noAttach
	if dry.On {
		st.DryRun = &dryrun.Report{}
	}
	meter := &progress.Meter{Unit: "images", Bytes: eng.Stats.BytesMoved.Load}
	stop := c.StartProgress(ctx, meter)
	tally, err := pipeline.Run(ctx, in, stdout, pipeline.Options{Progress: c.Progress(&eng.Stats), Meter: meter, Workers: c.ImageWorkers, Stage: "push", Barrier: push.Barrier, Seen: st.Seen}, st.Process)
	stop()
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	if err := files.Close(true); err != nil {
		return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
	}
	if path, err := cli.ErrorLog(dry.Workspace, c.Name, tally); err != nil {
		c.Log.Warnf("writing the error log: %v", err)
	} else if path != "" {
		c.Log.Errorf("error details in %s", path)
	}
	if dry.On {
		if err := dry.Finish(&c, st.DryRun, "the mirror"); err != nil {
			return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
		}
	}
	eng.Stats.Retries.Add(c.ClientRetries()) // requests retried inside the registry clients
	eng.Stats.Stalls.Add(c.ClientStalls())
	code = cli.Summary(os.Stderr, c.Name, tally, &eng.Stats, interrupted())
	if n := st.Collisions(); n > 0 && !interrupted() {
		c.Log.Errorf("%d images not pushed: their target holds another image of this input (named above)", n)
		return pipeline.ExitUsage
	}
	if cause := context.Cause(ctx); cause != nil && !interrupted() {
		c.Log.Errorf("%v", cause)
		return pipeline.ExitImageFailed
	}
	return code
}
