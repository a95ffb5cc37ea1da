// Command ocm-fetch copies the images named by records on stdin into a local
// cache (an OCI image layout) and writes the records, now cached, to stdout.
package main

import (
	"os"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/dryrun"
	"github.com/ocm-mirror/ocm/lib/fetch"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

const usage = `usage: ocm-plan -c isc.yaml | ocm-fetch --cache DIR [flags] > fetched.jsonl

Copies every image of the input records (all platforms of an index) into the
cache directory, skipping blobs the cache already holds, and the signatures
of release payloads beside them (from OCP_SIGNATURE_URL when the cache lacks
them, held to the digests the plan verified), with what is attached to each
image (cosign signatures, attestations, SBOMs, OCI referrers;
--remove-signatures: none), named in the record. Records that arrive failed or
skipped pass through untouched. Exit 0: all cached; 1: some image
failed (named in the summary); 2: bad flags or input; 130: interrupted.`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.Common{Name: "ocm-fetch"}
	fs := cli.NewFlagSet(c.Name, usage)
	var cacheFlag cli.Cache
	cacheFlag.Register(fs, "cache directory (OCI image layout; created if missing)")
	// Attachments (signatures, attestations, SBOMs, referrers): oc-mirror's spelling.
	noAttach := fs.Bool("remove-signatures", false, "copy images without their signatures, attestations, SBOMs and OCI referrers")
	var dry cli.DryRun
	dry.Register(fs)
	var shards cli.Shard
	shards.Register(fs)
	var files cli.RecordFiles
	files.Register(fs, true, true)
	c.Register(fs, cli.FlagSource|cli.FlagWorkers)
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
	cacheDir, cerr := cacheFlag.Dir()
	if cerr != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", cerr)
	}
	if fs.NArg() > 0 {
		return c.Fatalf(pipeline.ExitUsage, "no arguments are taken; fix: ocm-fetch [--cache DIR] < records")
	}
	cch, err := cache.Open(cacheDir)
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	src, err := c.SourceClient()
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	ctx, interrupted, cancel := cli.Context()
	defer cancel()
	in, code, err := c.Filter(ctx, stdin, part, cli.ShardBlobs(src, cch))
	if err != nil {
		return c.Fatalf(code, "%v", err)
	}
	eng := c.Engine()
	sigs, err := releasesig.StoreFromEnv()
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	st := &fetch.Stage{Engine: eng, Source: src, Cache: cch, Log: c.Log, Signatures: sigs}
	st.NoAttachments = *noAttach
	if dry.On {
		st.DryRun = &dryrun.Report{}
	}
	meter := &progress.Meter{Unit: "images", Bytes: eng.Stats.BytesMoved.Load}
	stop := c.StartProgress(ctx, meter)
	tally, err := pipeline.Run(ctx, in, stdout, pipeline.Options{Progress: c.Progress(&eng.Stats), Meter: meter, Workers: c.ImageWorkers, Stage: "fetch"}, st.Process)
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
		if err := dry.Finish(&c, st.DryRun, "the cache"); err != nil {
			return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
		}
	}
	eng.Stats.Retries.Add(c.ClientRetries()) // requests retried inside the registry clients
	eng.Stats.Stalls.Add(c.ClientStalls())
	return cli.Summary(os.Stderr, c.Name, tally, &eng.Stats, interrupted())
}
