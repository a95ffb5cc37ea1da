// Package cli holds what every ocm command shares: common flags, signal
// handling, the stderr summary and exit codes. Commands stay thin mains.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/dryrun"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/progress"
)

// Common is the flag set shared by commands that talk to registries.
type Common struct {
	Name         string
	AuthFile     string
	SrcTLSVerify bool
	DstTLSVerify bool
	SrcCertDir   string // --src-cert-dir: one certs.d host folder for every source
	DstCertDir   string // --dest-cert-dir: the destination's certs.d host folder
	LogLevel     string
	ImageWorkers int
	BlobWorkers  int
	Retries      int
	IdleTimeout  time.Duration
	RegConf      string
	ProgressMode string
	RetryDelay   time.Duration // --retry-delay: first wait between tries
	retryTimes   int           // --retry-times (oc-mirror)

	Log *logging.Logger
	bar bool // a progress bar is drawn: periodic progress lines are not

	clientRetries atomic.Int64
	clientStalls  atomic.Int64
}

// Flags bits select which common flags a command takes.
type Flags int

const (
	FlagSource Flags = 1 << iota
	FlagDest
	FlagWorkers
	FlagProgress // --progress alone (FlagWorkers has it)
)

// NewFlagSet makes a pflag set whose usage goes to stderr and which does not
// exit by itself (the command decides the exit code).
func NewFlagSet(name, usage string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "%s\n\nFlags:\n%s", strings.TrimSpace(usage), fs.FlagUsages())
	}
	return fs
}

// Register adds the common flags to fs.
func (c *Common) Register(fs *pflag.FlagSet, which Flags) {
	fs.StringVar(&c.AuthFile, "authfile", "", "registry credentials file (default: $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json)")
	if which&FlagSource != 0 {
		fs.StringVar(&c.RegConf, "registries-conf", "", "containers-registries.conf(5) whose mirrors serve the sources (default: ~/.config/containers/registries.conf, else /etc/containers/registries.conf, with their .d drop-ins)")
		fs.BoolVar(&c.SrcTLSVerify, "src-tls-verify", true, "require HTTPS and verify certificates of source registries (plain HTTP is tried only for loopback)")
		fs.StringVar(&c.SrcCertDir, "src-cert-dir", "", "folder of CA certificates (*.crt) and client certificates (*.cert with *.key) for source registries, instead of the containers-certs.d(5) folders (default: ~/.config/containers/certs.d/HOST, /etc/containers/certs.d/HOST, /etc/docker/certs.d/HOST)")
	}
	if which&FlagDest != 0 {
		fs.BoolVar(&c.DstTLSVerify, "dest-tls-verify", true, "require HTTPS and verify certificates of the destination registry (plain HTTP is tried only for loopback)")
		fs.StringVar(&c.DstCertDir, "dest-cert-dir", "", "folder of CA certificates (*.crt) and client certificates (*.cert with *.key) for the destination registry, instead of the containers-certs.d(5) folders")
	}
	if which&FlagWorkers != 0 {
		fs.IntVar(&c.ImageWorkers, "image-workers", 8, "images copied at once")
		fs.IntVar(&c.BlobWorkers, "blob-workers", 16, "blobs transferred at once, across all images")
		c.RegisterProgress(fs)
	}
	fs.IntVar(&c.Retries, "retries", 5, "tries per registry request on transient errors (429, 5xx, resets), with exponential backoff (also --retry-times N-1); a blob upload counts as one request, a cut download resumes within its request's tries")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", time.Minute, "longest a registry may send nothing (mid-transfer, or before answering a request); a stalled request is retried, a download resumes where it stopped")
	registerLogLevel(fs, &c.LogLevel)
	c.registerRetryAliases(fs)
}

// RegisterProgress adds --progress to fs.
func (c *Common) RegisterProgress(fs *pflag.FlagSet) {
	fs.StringVar(&c.ProgressMode, "progress", "auto", "auto (a bar when stderr is a terminal, periodic log lines otherwise), bar, or lines")
}

// Parse parses args and sets up logging. It returns an exit code >= 0 when
// the command must stop now (help asked, bad flag).
func (c *Common) Parse(fs *pflag.FlagSet, args []string) int {
	normalize(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return pipeline.ExitOK
		}
		fmt.Fprintf(os.Stderr, "%s: %v; fix: see %s --help\n", c.Name, err, c.Name)
		return pipeline.ExitUsage
	}
	lv, err := logging.ParseLevel(c.LogLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
		return pipeline.ExitUsage
	}
	c.Log = logging.New(c.Name, lv, os.Stderr)
	if c.ImageWorkers < 0 || c.BlobWorkers < 0 || (fs.Lookup("image-workers") != nil && (c.ImageWorkers == 0 || c.BlobWorkers == 0)) {
		fmt.Fprintf(os.Stderr, "%s: --image-workers and --blob-workers must be at least 1\n", c.Name)
		return pipeline.ExitUsage
	}
	switch c.ProgressMode {
	case "", "auto", "bar", "lines":
	default:
		fmt.Fprintf(os.Stderr, "%s: --progress %q: must be auto, bar or lines\n", c.Name, c.ProgressMode)
		return pipeline.ExitUsage
	}
	if err := c.finishCompat(fs); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
		return pipeline.ExitUsage
	}
	if c.Retries < 1 {
		fmt.Fprintf(os.Stderr, "%s: --retries must be at least 1\n", c.Name)
		return pipeline.ExitUsage
	}
	if fs.Lookup("idle-timeout") != nil && c.IdleTimeout <= 0 {
		fmt.Fprintf(os.Stderr, "%s: --idle-timeout %s: must be positive; fix: e.g. --idle-timeout 30s or 5m\n", c.Name, c.IdleTimeout)
		return pipeline.ExitUsage
	}
	return -1
}

// Fatalf prints a one-line error and returns the usage exit code.
func (c *Common) Fatalf(code int, format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "%s: %s\n", c.Name, logging.Escape(fmt.Sprintf(format, args...)))
	return code
}

// Context is cancelled by SIGINT or SIGTERM; Interrupted tells afterwards.
func Context() (context.Context, func() bool, context.CancelFunc) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx, func() bool { return ctx.Err() != nil }, cancel
}

// Summary prints the stage's outcome to w and returns the exit code.
func Summary(w io.Writer, name string, t *pipeline.Tally, st *copier.Stats, interrupted bool) int {
	fmt.Fprintf(w, "%s: %s\n", name, t.Line())
	if st != nil {
		fmt.Fprintf(w, "%s: moved %s in %d blobs; %d blobs already there, %d mounted, %d shared within the run; %d manifests written, %d images already complete, %d retries\n",
			name, HumanBytes(st.BytesMoved.Load()), st.BlobsCopied.Load(), st.BlobsExisting.Load(), st.BlobsMounted.Load(),
			st.BlobsShared.Load(), st.Manifests.Load(), st.ImagesUpToDate.Load(), st.Retries.Load())
		if n := st.Attachments.Load(); n > 0 {
			fmt.Fprintf(w, "%s: %d attachments (signatures, attestations, SBOMs, referrers) with the images, %d copied in this run\n", name, n, st.AttachedCopied.Load())
		}
		if n := st.Stalls.Load(); n > 0 {
			fmt.Fprintf(w, "%s: %d requests stalled (no data within --idle-timeout), each retried while --retries allowed; raise --idle-timeout if the registry is slow rather than stuck\n", name, n)
		}
	}
	for _, f := range t.Failed {
		fmt.Fprintf(w, "%s: FAILED %s\n", name, logging.Escape(f))
	}
	for _, f := range t.Upstream {
		fmt.Fprintf(w, "%s: FAILED earlier %s\n", name, logging.Escape(f))
	}
	if inc := t.IncompleteLine(); inc != "" {
		fmt.Fprintf(w, "%s: incomplete operators: %s\n", name, logging.Escape(inc))
	}
	switch {
	case interrupted:
		fmt.Fprintf(w, "%s: interrupted; rerun the same command to finish\n", name)
		return pipeline.ExitInterrupted
	case t.AnyFailed():
		return pipeline.ExitImageFailed
	}
	return pipeline.ExitOK
}

// Progress returns a pipeline progress callback that logs a line like the
// reference tool's periodic updates: images handled, failures, bytes moved.
func (c *Common) Progress(st *copier.Stats) func(int, *pipeline.Tally) {
	return func(done int, t *pipeline.Tally) {
		if c.bar {
			return
		}
		moved := ""
		if st != nil {
			moved = ", " + HumanBytes(st.BytesMoved.Load()) + " moved"
		}
		c.Log.Infof("progress: %d images done, %d failed%s", done, len(t.Failed), moved)
	}
}

// StartProgress draws m as a bar on stderr when --progress asks for it (auto:
// when stderr is a terminal and info messages are shown), until the returned
// stop is called. Otherwise it does nothing and the periodic lines stay.
func (c *Common) StartProgress(ctx context.Context, m *progress.Meter) (stop func()) {
	on := c.ProgressMode == "bar" || ((c.ProgressMode == "auto" || c.ProgressMode == "") && progress.IsTerminal(os.Stderr))
	if !on || !c.Log.Enabled(logging.Info) {
		return func() {}
	}
	c.bar = true
	return progress.Start(ctx, c.Log, m, c.Name, 200*time.Millisecond)
}

// ErrorLog writes the stage's failures to WORKSPACE/logs/mirroring_errors_<time>.log
// (one line each) when there are any, and returns its path.
func ErrorLog(workspace, name string, t *pipeline.Tally) (string, error) {
	if len(t.Failed) == 0 || workspace == "" {
		return "", nil
	}
	dir := filepath.Join(workspace, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "mirroring_errors_"+time.Now().Format("20060102_150405")+".log")
	var b strings.Builder
	for _, f := range t.Failed {
		fmt.Fprintf(&b, "%s: %s\n", name, logging.Escape(f))
	}
	return p, os.WriteFile(p, []byte(b.String()), 0o644)
}

// HumanBytes formats n as B, KiB, MiB or GiB.
func HumanBytes(n int64) string { return progress.HumanBytes(n) }

// DryRun is --dry-run with --workspace.
type DryRun struct {
	On        bool
	Workspace string
}

// Register adds --dry-run and --workspace to fs.
func (d *DryRun) Register(fs *pflag.FlagSet) {
	fs.BoolVar(&d.On, "dry-run", false, "copy nothing: write WORKSPACE/dry-run/mapping.txt (every image) and missing.txt (images not yet at the destination)")
	WorkspaceVar(fs, &d.Workspace, "folder for dry-run files and logs/mirroring_errors_<time>.log")
}

// WorkspaceVar adds --workspace (oc-mirror's working directory, default
// working-dir; PATH or file://PATH) to fs; usage says what goes there.
func WorkspaceVar(fs *pflag.FlagSet, p *string, usage string) {
	LocalPathVar(fs, p, "workspace", "working-dir", usage+" (PATH or file://PATH)")
}

// Finish writes the dry-run files and says what is missing, as the reference
// tool does.
func (d *DryRun) Finish(c *Common, r *dryrun.Report, where string) error {
	mapping, missing, err := r.Write(d.Workspace)
	if err != nil {
		return err
	}
	all, miss := r.Counts()
	if miss > 0 {
		c.Log.Warnf("%d/%d images necessary for mirroring are not available in %s", miss, all, where)
		c.Log.Warnf("list of missing images in: %s", missing)
	} else {
		c.Log.Infof("all %d images are already in %s", all, where)
	}
	c.Log.Infof("list of all images for mirroring in: %s", mapping)
	return nil
}

// OutDirs checks each flag's directory (flag, dir, flag, dir...) as
// OutDir does.
func OutDirs(flagDirs ...string) error {
	for i := 0; i+1 < len(flagDirs); i += 2 {
		if err := OutDir(flagDirs[i], flagDirs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// OutDir checks that flag's directory (--out) is a directory or does not
// exist yet: a file there is a mistake in the command line (exit 2), not a
// failure found after the work is done.
func OutDir(flag, dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s %s: %w", flag, dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s %s is a file, not a directory; fix: name a directory (it is created if missing)", flag, dir)
	}
	return nil
}
