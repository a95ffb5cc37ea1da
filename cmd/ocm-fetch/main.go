// Command ocm-fetch copies the images named by records on stdin into a local
// cache (an OCI image layout) and writes the records, now cached, to stdout.
package main

import (
	"context"
	"os"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/copystage"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/releasesig"
)

const usage = `usage: ocm-plan -c isc.yaml | ocm-fetch --cache DIR [flags] > fetched.jsonl

Copies every image of the input records (all platforms of an index; of a
sparse record, the platforms it lists) into the cache directory, skipping
blobs the cache already holds, and the signatures
of release payloads beside them (from OCP_SIGNATURE_URL when the cache lacks
them, held to the digests the plan verified), with what is attached to each
image (cosign signatures, attestations, SBOMs, OCI referrers;
--remove-signatures: none), named in the record. Blobs already cached are
size-checked; --verify hashes them (after a disk fault or a copy by hand, or
when ocm-pack found one damaged), and a damaged one is fetched again. Records
that arrive failed or skipped pass through untouched. Exit 0: all cached; 1: some image
failed (named in the summary); 2: bad flags or input; 130: interrupted.`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	s := cli.NewStage("ocm-fetch", usage, "cache directory (OCI image layout; created if missing)")
	s.Register(cli.FlagSource)
	verify := s.Flags.Bool("verify", false, "hash every blob the cache already holds for the input's images (not only check its size); damaged ones are fetched again")
	check := func() error {
		if s.Flags.NArg() > 0 {
			return cli.Usagef("no arguments are taken; fix: ocm-fetch [--cache DIR] < records")
		}
		return nil
	}
	return s.Run(args, check, func(ctx context.Context, e *cli.Env) (*cli.Work, error) {
		sigs, err := releasesig.StoreFromEnv()
		if err != nil {
			return nil, cli.Usage(err)
		}
		sigs.HTTP = e.Source.HTTPClient()
		st := &copystage.Stage{Engine: e.Engine, Source: e.Source, Cache: e.Cache, Log: s.Log, Signatures: sigs, DryRun: e.DryRun}
		st.NoAttachments, st.MaxAttachments = s.NoAttachments, s.MaxAttachments
		if *verify {
			st.Verify = &cache.Hashed{}
		}
		return &cli.Work{Process: st.Process, Options: pipeline.Options{Stage: "fetch"}, Where: "the cache"}, nil
	})
}
