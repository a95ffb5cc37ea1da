// Command ocm-unpack verifies archive files written by ocm-pack, copies the
// images their records name into a cache and writes the set's records to
// stdout.
package main

import (
	"context"
	"errors"
	"os"

	"github.com/ocm-mirror/ocm/lib/archive"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/selection"
)

const usage = `usage: ocm-unpack ARCHIVE_DIR|mirror_000001.tar... --cache DIR [flags] > records.jsonl

Copies each record's image (with its attachments and release signatures)
from the archives into the cache, checking every blob it loads (size and
sha256, while streaming); a damaged blob never reaches the cache.
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
		var sel *selection.Selector
		paths, err := cli.LocalPaths("archive", c.Flags.Args())
		if err == nil {
			sel, err = selection.LoadSelector(*cfgPath)
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
		if res.Records, err = sel.Select(res.Records, c.Log); errors.Is(err, selection.ErrReleaseBlocked) {
			return 0, err // as ocm-plan: the set is fine, the release cannot go
		} else if err != nil {
			return 0, cli.Usage(err)
		}
		res.Log(c.Log, cch.Dir)
		code, err := c.Finish(os.Stdout, res.Records, func(r *record.Record) bool { return r.Stage != "unpack" })
		if code == pipeline.ExitOK && len(res.Problems) > 0 {
			code = pipeline.ExitImageFailed
		}
		return code, err
	})
}
