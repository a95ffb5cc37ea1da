// Command ocm-pack writes the cached images of the records on stdin into
// archive files (mirror_000001.tar, ...) to carry across an air gap.
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
)

const usage = `usage: ocm-fetch ... | ocm-pack --cache DIR --out ARCHIVE_DIR [flags] > packed.jsonl

Writes ARCHIVE_DIR/mirror_000001.tar, mirror_000002.tar, ...: the blobs of every
input image that earlier sets from ARCHIVE_DIR did not carry (see
ARCHIVE_DIR/.ocm-pack-history.json), plus the records and a table of contents
of the whole image set. Exit 0: all packed; 1: some image was not complete in
the cache; 2: bad flags or input, or ARCHIVE_DIR in use by another ocm-pack
(it fails at once rather than wait).`

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	c := cli.New("ocm-pack", usage)
	cacheFlag := cli.CacheVar(c.Flags, "cache directory the images were fetched into")
	p := &archive.Packer{}
	cli.LocalPathVar(c.Flags, &p.OutDir, "out", "", "directory for the archive files (PATH or file://PATH)")
	cfgPath := cli.ConfigVar(c.Flags, "image set configuration; its archiveSize applies unless --archive-size is given")
	size := c.Flags.String("archive-size", "", "largest archive file: a number of GiB (4) or with a unit (500MiB, 2GiB); default: no limit")
	c.Flags.BoolVar(&p.Strict, "strict-archive", false, "fail when one blob alone is larger than the archive size (default: it gets an archive of its own)")
	since := c.Flags.String("since", "", "pack every blob first cached on or after this date (YYYY-MM-DD) instead of those earlier sets did not carry")
	c.Flags.BoolVar(&p.Full, "full", false, "ignore the history of earlier sets: pack every blob")
	c.RegisterLocal(c.Flags, cli.FlagProgress)
	return c.Run(args, func(ctx context.Context) (int, error) {
		if p.OutDir == "" || c.Flags.NArg() > 0 {
			return 0, cli.Usagef("--out ARCHIVE_DIR is required; fix: ocm-pack [--cache DIR] --out ARCHIVE_DIR < records")
		}
		err := cli.OutDir("--out", p.OutDir)
		if err == nil {
			err = p.Setup(*size, *cfgPath, *since)
		}
		if err != nil {
			return 0, cli.Usage(err)
		}
		if p.Cache, err = cacheFlag.Open(); err != nil {
			return 0, err
		}
		recs, err := cli.ReadRecords()
		if err != nil {
			return 0, err
		}
		p.Log, p.Meter = c.Log, &progress.Meter{Unit: "bytes"}
		stop := c.StartProgress(ctx, p.Meter)
		res, err := p.Pack(ctx, recs)
		stop()
		switch {
		case err != nil && c.Interrupted():
			return 0, cli.Exit(pipeline.ExitInterrupted, errors.New("interrupted; no archive was half-written, rerun to finish"))
		case errors.Is(err, archive.ErrBusy):
			return 0, cli.Usage(err)
		case err != nil:
			return 0, err
		}
		if res.TOC != nil {
			c.Log.Infof("set %s: %d archives, %s of blobs packed, %d blobs left out (carried by earlier sets)", res.TOC.SetID, len(res.Files), cli.HumanBytes(res.Packed), res.Skipped)
		}
		return c.Finish(os.Stdout, recs, func(r *record.Record) bool { return r.Stage != "pack" })
	})
}
