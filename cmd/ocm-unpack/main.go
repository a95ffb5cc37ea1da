// Command ocm-unpack verifies archive files written by ocm-pack, loads their
// blobs into a cache and writes the set's records to stdout.
package main

import (
	"context"
	"errors"
	"os"

	"github.com/ocm-mirror/ocm/lib/archive"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/plan"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/record"
)

const usage = `usage: ocm-unpack ARCHIVE_DIR|mirror_000001.tar... --cache DIR [flags] > records.jsonl

Checks every member of every archive of one set (size and sha256, while
streaming) and loads it into the cache; a damaged member never reaches it.
Writes the set's records, each cached or failed with the blob and archive at
fault. Unpack earlier (incremental) sets first. Exit 0: every image whole;
1: some archive or image was damaged or missing; 2: bad flags, a file that is
not an ocm archive (empty, garbage, unreadable table of contents), or archives
of different sets (only consecutive sets of one ARCHIVE_DIR go together).`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.New("ocm-unpack", usage)
	cacheFlag := cli.CacheVar(c.Flags, "cache directory to load into (created if missing)")
	cfgPath := cli.ConfigVar(c.Flags, "keep only the records this image set configuration selects (no network needed)")
	c.RegisterLocal(c.Flags, cli.FlagProgress)
	return c.Run(args, func(ctx context.Context) (int, error) {
		if c.Flags.NArg() == 0 {
			return 0, cli.Usagef("archives are required; fix: ocm-unpack ARCHIVE_DIR [--cache DIR]")
		}
		var sel *plan.Selector
		paths, err := cli.LocalPaths("archive", c.Flags.Args())
		if err == nil {
			sel, err = plan.LoadSelector(*cfgPath)
		}
		if err == nil {
			paths, err = archive.Expand(paths)
		}
		if err != nil {
			return 0, cli.Usage(err)
		}
		cch, err := cacheFlag.Open()
		if err != nil {
			return 0, err
		}
		u := &archive.Unpacker{Cache: cch, Log: c.Log, Meter: &progress.Meter{Unit: "bytes"}}
		stop := c.StartProgress(ctx, u.Meter)
		res, err := u.Unpack(ctx, paths)
		stop()
		if errors.Is(err, archive.ErrMixedSets) || (res == nil && errors.Is(err, archive.ErrBadArchive)) {
			return 0, cli.Usage(err)
		} else if res == nil && err != nil {
			return 0, err
		}
		if res.Records, err = sel.Select(res.Records, c.Log); err != nil {
			return 0, cli.Usage(err)
		}
		tally, err := cli.WriteRecords(os.Stdout, res.Records, func(r *record.Record) bool { return r.Stage != "unpack" })
		if err != nil {
			return 0, err
		}
		res.Log(c.Log, cch.Dir)
		if code := c.Summary(tally); code != pipeline.ExitOK || len(res.Problems) == 0 {
			return code, nil
		}
		return pipeline.ExitImageFailed, nil
	})
}
