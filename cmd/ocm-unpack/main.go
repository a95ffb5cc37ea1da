// Command ocm-unpack verifies archive files written by ocm-pack, copies the
// images their records name into a cache and writes the set's records to
// stdout.
package main

import (
	"errors"
	"os"

	"github.com/ocm-mirror/ocm/lib/archive"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/cli"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/plan"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/record"
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
	c := cli.Common{Name: "ocm-unpack"}
	fs := cli.NewFlagSet(c.Name, usage)
	var cacheFlag cli.Cache
	cacheFlag.Register(fs, "cache directory to load into (created if missing)")
	cfgPath := fs.StringP("config", "c", "", "keep only the records this image set configuration selects (no network needed)")
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
	if fs.NArg() == 0 {
		return c.Fatalf(pipeline.ExitUsage, "archives are required; fix: ocm-unpack ARCHIVE_DIR [--cache DIR]")
	}
	var paths []string
	for _, a := range fs.Args() {
		p, err := cli.LocalPath("archive", a)
		if err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
		paths = append(paths, p)
	}
	var cfg *config.Config
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return c.Fatalf(pipeline.ExitUsage, "%v", err)
		}
	}
	files, err := archive.Expand(paths)
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	cch, err := cache.Open(cacheDir)
	if err != nil {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	ctx, interrupted, cancel := cli.Context()
	defer cancel()
	meter := &progress.Meter{Unit: "bytes"}
	stop := c.StartProgress(ctx, meter)
	res, err := (&archive.Unpacker{Cache: cch, Log: c.Log, Meter: meter}).Unpack(ctx, files)
	stop()
	if errors.Is(err, archive.ErrMixedSets) {
		return c.Fatalf(pipeline.ExitUsage, "%v", err)
	}
	if err != nil && res == nil {
		code := pipeline.ExitImageFailed
		if errors.Is(err, archive.ErrBadArchive) {
			code = pipeline.ExitUsage
		}
		return c.Fatalf(code, "%v", err)
	}
	if cfg != nil {
		all := len(res.Records)
		if res.Records, err = plan.Select(cfg, res.Records); err != nil {
			code := pipeline.ExitUsage
			if errors.Is(err, plan.ErrReleaseBlocked) {
				code = pipeline.ExitImageFailed // as ocm-plan: the set is fine, the release cannot go
			}
			return c.Fatalf(code, "%s: %v", *cfgPath, err)
		}
		c.Log.Infof("%s selects %d of the %d images in the archives", *cfgPath, len(res.Records), all)
	}
	w := record.NewWriter(os.Stdout)
	tally := &pipeline.Tally{}
	for _, r := range res.Records {
		if err := w.Write(r); err != nil {
			return c.Fatalf(pipeline.ExitImageFailed, "writing records: %v", err)
		}
		tally.Add(r, r.Stage != "unpack")
	}
	for _, p := range res.Problems {
		c.Log.Errorf("%s", p)
	}
	c.Log.Infof("loaded %s into %s", cli.HumanBytes(res.Loaded), cacheDir)
	code := cli.Summary(os.Stderr, c.Name, tally, nil, interrupted())
	if code == pipeline.ExitOK && len(res.Problems) > 0 {
		code = pipeline.ExitImageFailed
	}
	return code
}
