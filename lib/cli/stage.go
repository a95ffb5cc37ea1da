package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/dryrun"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// Stage is a command that streams records through one copy stage (ocm-fetch,
// ocm-push): its cache, shard, record files and dry run, the summary and the
// exit code are the same whatever the destination.
type Stage struct {
	*Command
	Cache  Cache
	Dry    DryRun
	Shards Shard
	Files  RecordFiles
	// NoAttachments is --remove-signatures.
	NoAttachments bool
	// MaxAttachments is --max-attachments: an image with more fails.
	MaxAttachments int
}

// NewStage makes the stage command name; cacheUsage says what its --cache is
// for. The command's own flags follow, then Register.
func NewStage(name, usage, cacheUsage string) *Stage {
	s := &Stage{Command: New(name, usage)}
	s.Cache.Register(s.Flags, cacheUsage)
	return s
}

// Register adds the flags every copy stage takes, and the common ones which
// selects (workers always).
func (s *Stage) Register(which Flags) {
	// Attachments (signatures, attestations, SBOMs, referrers): oc-mirror's spelling.
	s.Flags.BoolVar(&s.NoAttachments, "remove-signatures", false, "copy images without their signatures, attestations, SBOMs and OCI referrers")
	s.Flags.IntVar(&s.MaxAttachments, "max-attachments", record.DefaultAttachments, fmt.Sprintf("an image with more signatures, attestations, SBOMs and referrers than this fails (at most %d)", record.MaxAttachments))
	s.Dry.Register(s.Flags)
	s.Shards.Register(s.Flags)
	s.Files.Register(s.Flags, true, true)
	s.Common.Register(s.Flags, which|FlagWorkers)
}

// Env is what the runner opens for the stage.
type Env struct {
	Cache  *cache.Cache
	Source *registry.Client
	Engine *copier.Engine
	// Abort stops the run: the command exits 1, logging the cause.
	Abort func(error)
	// DryRun is set with --dry-run.
	DryRun *dryrun.Report
}

// Work is the stage's part of the run.
type Work struct {
	Process pipeline.Func
	// Options name the stage and may order records (Barrier, Seen); the
	// runner sets workers and progress.
	Options pipeline.Options
	// Where the dry run looks for images ("the cache").
	Where string
	// Refused, when set, tells after the run why records were refused as
	// bad input (the command then exits 2), or nil.
	Refused func() error
}

// Run parses args; check validates the arguments (errors: Usage). It then
// opens the shard, record files, cache and source registry, asks setup for
// the stage, runs it over the records and prints the summary.
func (s *Stage) Run(args []string, check func() error, setup func(ctx context.Context, e *Env) (*Work, error)) int {
	return s.Command.Run(args, func(sigCtx context.Context) (int, error) {
		part, err := s.Shards.Spec()
		if err != nil {
			return 0, Usage(err)
		}
		stdin, stdout, err := s.Files.Open()
		if err != nil {
			return 0, Usage(err)
		}
		defer s.Files.Close(false) // unless kept below
		if s.MaxAttachments < 1 || s.MaxAttachments > record.MaxAttachments {
			return 0, Usagef("--max-attachments %d: want 1 to %d", s.MaxAttachments, record.MaxAttachments)
		}
		if err := check(); err != nil {
			return 0, err
		}
		dir, err := s.Cache.Dir()
		if err != nil {
			return 0, Usage(err)
		}
		e := &Env{}
		if e.Cache, err = cache.Open(dir); err != nil {
			return 0, Usage(err)
		}
		if e.Source, err = s.SourceClient(); err != nil {
			return 0, Usage(err)
		}
		ctx, abort := context.WithCancelCause(sigCtx)
		defer abort(nil)
		e.Abort = abort
		in, code, err := s.Filter(ctx, stdin, part, ShardBlobs(e.Source, e.Cache))
		if err != nil {
			return 0, Exit(code, err)
		}
		e.Engine = s.Engine()
		if s.Dry.On {
			e.DryRun = &dryrun.Report{}
		}
		w, err := setup(ctx, e)
		if err != nil {
			return 0, err
		}
		stats := &e.Engine.Stats
		meter := &progress.Meter{Unit: "images", Bytes: stats.BytesMoved.Load}
		o := w.Options
		o.Progress, o.Meter, o.Workers = s.Progress(stats), meter, s.ImageWorkers
		stop := s.StartProgress(ctx, meter)
		tally, err := pipeline.Run(ctx, in, stdout, o, w.Process)
		stop()
		if err != nil {
			return 0, Usage(err)
		}
		if err := s.Files.Close(true); err != nil {
			return 0, err
		}
		if path, err := ErrorLog(s.Dry.Workspace, s.Name, tally); err != nil {
			s.Log.Warnf("writing the error log: %v", err)
		} else if path != "" {
			s.Log.Errorf("error details in %s", path)
		}
		if e.DryRun != nil {
			if err := s.Dry.Finish(&s.Common, e.DryRun, w.Where); err != nil {
				return 0, err
			}
		}
		stats.Retries.Add(s.ClientRetries()) // requests retried inside the registry clients
		stats.Stalls.Add(s.ClientStalls())
		code = Summary(os.Stderr, s.Name, tally, stats, s.Interrupted())
		if s.Interrupted() {
			return code, nil
		}
		if w.Refused != nil {
			if err := w.Refused(); err != nil {
				s.Log.Errorf("%v", err)
				return pipeline.ExitUsage, nil
			}
		}
		if cause := context.Cause(ctx); cause != nil {
			s.Log.Errorf("%v", cause)
			return pipeline.ExitImageFailed, nil
		}
		return code, nil
	})
}
