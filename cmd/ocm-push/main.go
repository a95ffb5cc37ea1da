// Command ocm-push copies the images named by records on stdin to a mirror
// registry, from the cache when it holds them, else from their source
// registry, and writes the records, now pushed, to stdout.
package main

import (
	"context"
	"os"

	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/copystage"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
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
	s := cli.NewStage("ocm-push", usage, "read images from this cache when it holds them")
	maxNested := cli.MaxNestedVar(s.Flags, "at most this many path components in destination repositories (0: no limit); deeper paths are joined with '-' into the last one")
	s.Register(cli.FlagSource | cli.FlagDest)
	var mirror refs.Mirror
	var dst *registry.Client
	check := func() (err error) {
		if s.Flags.NArg() != 1 {
			return cli.Usagef("one destination is required; fix: ocm-push docker://HOST[:PORT][/PREFIX] < records")
		}
		if mirror, dst, err = s.Mirror(s.Flags.Arg(0)); err != nil {
			return err
		}
		if *maxNested < 0 {
			return cli.Usagef("--max-nested-paths must be 0 or more")
		}
		return nil
	}
	return s.Run(args, check, func(ctx context.Context, e *cli.Env) (*cli.Work, error) {
		st := &copystage.Stage{Engine: e.Engine, Source: e.Source, Dest: dst, Cache: e.Cache, Mirror: mirror, MaxNested: *maxNested, Log: s.Log, Abort: e.Abort, DryRun: e.DryRun}
		st.NoAttachments, st.MaxAttachments = s.NoAttachments, s.MaxAttachments
		o := pipeline.Options{Stage: "push", Barrier: copystage.Barrier, Seen: st.Seen}
		return &cli.Work{Process: st.Process, Options: o, Where: "the mirror", Refused: st.Refused}, nil
	})
}
