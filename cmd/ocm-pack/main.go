// Command ocm-pack writes the cached images of the records on stdin into
// archive files (mirror_000001.tar, ...) to carry across an air gap.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ocm-mirror/ocm/lib/archive"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/config"
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
	c := cli.Common{Name: "ocm-pack"}
	fs := cli.NewFlagSet(c.Name, usage)
	var cacheFlag cli.Cache
	cacheFlag.Register(fs, "cache directory the images were fetched into")
	out := new(string)
	cli.LocalPathVar(fs, out, "out", "", "directory for the archive files (PATH or file://PATH)")
	cfgPath := fs.StringP("config", "c", "", "image set configuration; its archiveSize applies unless --archive-size is given")
	size := fs.String("archive-size", "", "largest archive file: a number of GiB (4) or with a unit (500MiB, 2GiB); default: no limit")
	strict := fs.Bool("strict-archive", false, "fail when one blob alone is larger than the archive size (default: it gets an archive of its own)")
	since := fs.String("since", "", "pack every blob first cached on or after this date (YYYY-MM-DD) instead of those earlier sets did not carry")
	full := fs.Bool("full", false, "ignore the history of earlier sets: pack every blob")
	fs.StringVar(&c.LogLevel, "loglevel", "info", "error, info, debug or trace")
	c.RegisterProgress(fs)
	c.Retries = 1
	if code := c.Parse(fs, args); code >= 0 {
		return code
	}
	cacheDir, cerr := cacheFlag.Dir()
	if cerr != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", cerr)
	}
	if *out == "" || fs.NArg() > 0 {
		return c.Fatalf(pipeline.ExitUsage, "--out ARCHIVE_DIR is required; fix: ocm-pack [--cache DIR] --out ARCHIVE_DIR < records")
	}
	if err := cli.OutDir("--out", *out); err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	// A damaged history is found now, before any work, as bad input.
	if _, err := archive.LoadHistory(*out); err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	p := &archive.Packer{OutDir: *out, Strict: *strict, Full: *full, Log: c.Log}
	var err error
	if *size != "" {
		if p.MaxSize, err = archive.ParseSize(*size); err != nil {
			return c.Fatalf(pipeline.ExitUsage, "--archive-size: %v", err)
		}
	} else if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		p.MaxSize = int64(cfg.ArchiveSize) << 30
	}
	if *since != "" {
		if p.Since, err = time.ParseInLocation("2006-01-02", *since, time.Local); err != nil {
			return c.Fatalf(pipeline.ExitUsage, "--since %q: want a date like 2026-01-31", *since)
		}
	}
	if p.Cache, err = cache.Open(cacheDir); err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	recs, err := record.ReadAll(os.Stdin, "stdin")
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	for _, r := range recs {
		// As ocm-push would: an archive carries only images it can push.
		if !r.Done() && (r.Digest == "" || r.Destination == "") {
			r.Fail("pack", fmt.Errorf("record has no digest or destination; fix: feed ocm-pack the output of ocm-fetch"))
		}
	}
	ctx, interrupted, cancel := cli.Context()
	defer cancel()
	p.Meter = &progress.Meter{Unit: "bytes"}
	stop := c.StartProgress(ctx, p.Meter)
	res, err := p.Pack(ctx, recs)
	stop()
	if err != nil {
		if interrupted() {
			return c.Fatalf(pipeline.ExitInterrupted, "interrupted; no archive was half-written, rerun to finish")
		}
		if errors.Is(err, archive.ErrBusy) {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		return c.Fatalf(pipeline.ExitImageFailed, "%v", err)
	}
	w := record.NewWriter(os.Stdout)
	tally := &pipeline.Tally{}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			return c.Fatalf(pipeline.ExitImageFailed, "writing records: %v", err)
		}
		tally.Add(r, r.Stage != "pack")
	}
	if res.TOC != nil {
		c.Log.Infof("set %s: %d archives, %s of blobs packed, %d blobs left out (carried by earlier sets)", res.TOC.SetID, len(res.Files), cli.HumanBytes(res.Packed), res.Skipped)
	}
	return cli.Summary(os.Stderr, c.Name, tally, nil, interrupted())
}
