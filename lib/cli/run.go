package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/record"
)

// Command is one ocm command: the common settings and its flag set. A main
// adds its flags to Flags and hands its work to Run.
type Command struct {
	Common
	Flags *pflag.FlagSet
	// Interrupted tells, once Run has started the work, whether SIGINT or
	// SIGTERM arrived.
	Interrupted func() bool
}

// New makes the command name, whose --help prints usage.
func New(name, usage string) *Command {
	return &Command{Common: Common{Name: name}, Flags: NewFlagSet(name, usage)}
}

// ExitError is an error with the exit code its command ends with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Exit gives err the exit code code; nil stays nil.
func Exit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// Usage marks err as bad flags or input (exit 2); nil stays nil.
func Usage(err error) error { return Exit(pipeline.ExitUsage, err) }

// Usagef is a bad flags or input error (exit 2).
func Usagef(format string, a ...any) error { return Usage(fmt.Errorf(format, a...)) }

// Run parses args and runs work with a context SIGINT and SIGTERM cancel.
// An error work returns is printed as one line, and the command exits with
// its code (ExitError), else 1; otherwise with the code work returns.
func (c *Command) Run(args []string, work func(ctx context.Context) (int, error)) int {
	if code := c.Parse(c.Flags, args); code >= 0 {
		return code
	}
	ctx, interrupted, cancel := Context()
	defer cancel()
	c.Interrupted = interrupted
	code, err := work(ctx)
	if err != nil {
		code = pipeline.ExitImageFailed
		var ee *ExitError
		if errors.As(err, &ee) {
			code = ee.Code
		}
		return c.Fatalf(code, "%v", err)
	}
	return code
}

// ConfigVar adds -c/--config, the image set configuration, to fs.
func ConfigVar(fs *pflag.FlagSet, usage string) *string {
	return fs.StringP("config", "c", "", usage)
}

// RegisterLocal adds what commands that reach no registry share (--loglevel,
// and --progress when which has FlagProgress), and gives them one try per
// request.
func (c *Common) RegisterLocal(fs *pflag.FlagSet, which Flags) {
	registerLogLevel(fs, &c.LogLevel)
	if which&FlagProgress != 0 {
		c.RegisterProgress(fs)
	}
	c.Retries = 1
}

func registerLogLevel(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "loglevel", "info", "error, info, debug or trace (also --log-level)")
}

// MaxNestedVar adds --max-nested-paths to fs.
func MaxNestedVar(fs *pflag.FlagSet, usage string) *int {
	return fs.Int("max-nested-paths", 0, usage)
}

// Sink writes records as they come and counts them.
type Sink struct {
	w     *record.Writer // nil: records go nowhere
	Tally *pipeline.Tally
	// Err is the first write error.
	Err error
}

// NewSink writes to w (nil: nowhere).
func NewSink(w io.Writer) *Sink {
	s := &Sink{Tally: &pipeline.Tally{}}
	if w != nil {
		s.w = record.NewWriter(w)
	}
	return s
}

// Write writes r and counts it; passed marks a record the command did not
// touch.
func (s *Sink) Write(r *record.Record, passed bool) error {
	if s.w != nil {
		if err := s.w.Write(r); err != nil {
			s.Err = fmt.Errorf("writing records: %w", err)
			return s.Err
		}
	}
	s.Tally.Add(r, passed)
	return nil
}

// WriteRecords writes recs to w (nil: nowhere) and counts them; passed
// tells which records the command did not touch.
func WriteRecords(w io.Writer, recs []*record.Record, passed func(*record.Record) bool) (*pipeline.Tally, error) {
	s := NewSink(w)
	for _, r := range recs {
		if err := s.Write(r, passed(r)); err != nil {
			return s.Tally, err
		}
	}
	return s.Tally, nil
}

// Finish writes recs to w (nil: nowhere), counting them (passed: records
// the command did not touch), and prints the summary.
func (c *Command) Finish(w io.Writer, recs []*record.Record, passed func(*record.Record) bool) (int, error) {
	tally, err := WriteRecords(w, recs, passed)
	if err != nil {
		return 0, err
	}
	return c.Summary(tally), nil
}

// Summary prints c's outcome to stderr and returns the exit code.
func (c *Command) Summary(t *pipeline.Tally) int {
	return Summary(os.Stderr, c.Name, t, nil, c.Interrupted())
}

// Passthrough is where a command copies its input records: stdout, unless
// on is false (--no-passthrough).
func Passthrough(on bool) io.Writer {
	if on {
		return os.Stdout
	}
	return nil
}

// ReadRecords reads every record of stdin; its errors are bad input (exit 2).
func ReadRecords() ([]*record.Record, error) {
	recs, err := record.ReadAll(os.Stdin, "stdin")
	return recs, Usage(err)
}

// Produce writes the records produce emits to files' output (or stdout) as
// they come, saying why each skipped one is, and prints the summary. The
// output is kept only when the records are whole: not after an error or an
// interruption.
func (c *Command) Produce(files *RecordFiles, produce func(emit func(*record.Record) error) error) (int, error) {
	_, stdout, err := files.Open()
	if err != nil {
		return 0, Usage(err)
	}
	defer files.Close(false) // unless kept below
	out := NewSink(stdout)
	err = produce(func(r *record.Record) error {
		if err := out.Write(r, false); err != nil || r.Status != record.StatusSkipped {
			return err
		}
		c.Log.Infof("%s: %s", r.Source, r.Error)
		return nil
	})
	switch {
	case out.Err != nil:
		return 0, out.Err
	case c.Interrupted(): // whatever the work stopped with: exit 130
		return c.Summary(out.Tally), nil
	case err != nil:
		return 0, err
	}
	if err := files.Close(true); err != nil {
		return 0, err
	}
	return c.Summary(out.Tally), nil
}
