// Package pipeline runs one ocm stage over a stream of image records: it reads
// records, hands the ones still in play to a bounded pool of workers, writes
// the results in input order (so reruns give the same output) and keeps the
// tally for the summary and the exit code.
package pipeline

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/record"
)

// Exit codes shared by every ocm command.
const (
	ExitOK          = 0
	ExitImageFailed = 1 // the run finished, some images failed
	ExitUsage       = 2 // bad flags, configuration or input: nothing was done
	ExitInterrupted = 130
)

// Func handles one record in place (sets Status, Error, ...).
type Func func(ctx context.Context, r *record.Record)

// Tally counts records by outcome.
type Tally struct {
	mu       sync.Mutex
	Total    int
	ByStatus map[record.Status]int
	// Failed names records that failed in this stage; Upstream those that
	// arrived failed.
	Failed   []string
	Upstream []string
	// Incomplete lists, per operator package, the bundles with a failed image.
	Incomplete map[string]map[string]bool
}

// Add counts r; passedThrough marks a record this stage did not touch.
func (t *Tally) Add(r *record.Record, passedThrough bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ByStatus == nil {
		t.ByStatus = map[record.Status]int{}
	}
	t.Total++
	t.ByStatus[r.Status]++
	if r.Status == record.StatusFailed && r.Bundle != "" {
		if t.Incomplete == nil {
			t.Incomplete = map[string]map[string]bool{}
		}
		if t.Incomplete[r.Package] == nil {
			t.Incomplete[r.Package] = map[string]bool{}
		}
		t.Incomplete[r.Package][r.Bundle] = true
	}
	if r.Status == record.StatusFailed {
		line := fmt.Sprintf("%s: %s", r.Name(), r.Error)
		if passedThrough {
			t.Upstream = append(t.Upstream, fmt.Sprintf("%s (failed in %s)", line, r.Stage))
		} else {
			t.Failed = append(t.Failed, line)
		}
	}
}

// IncompleteLine names the operators and bundles that lack an image, as
// "pkg (b1, b2); pkg2 (b3)", or "".
func (t *Tally) IncompleteLine() string {
	var parts []string
	pkgs := make([]string, 0, len(t.Incomplete))
	for p := range t.Incomplete {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		var bs []string
		for b := range t.Incomplete[p] {
			bs = append(bs, b)
		}
		sort.Strings(bs)
		parts = append(parts, fmt.Sprintf("%s (%s)", p, strings.Join(bs, ", ")))
	}
	return strings.Join(parts, "; ")
}

// AnyFailed reports whether any record, here or upstream, failed.
func (t *Tally) AnyFailed() bool { return len(t.Failed)+len(t.Upstream) > 0 }

// Line is a one-line count by status, e.g. "12 images: 11 pushed, 1 failed".
func (t *Tally) Line() string {
	var parts []string
	keys := make([]string, 0, len(t.ByStatus))
	for s := range t.ByStatus {
		keys = append(keys, string(s))
	}
	sort.Strings(keys)
	for _, s := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", t.ByStatus[record.Status(s)], s))
	}
	return fmt.Sprintf("%d images: %s", t.Total, strings.Join(parts, ", "))
}

// Options for Run.
type Options struct {
	Workers int
	// Pass decides which records skip the worker and go out untouched.
	// Default: records that are failed or skipped.
	Pass func(*record.Record) bool
	// InputName appears in decode errors ("stdin").
	InputName string
	// Stage names the command in records it fails.
	Stage string
	// Barrier marks records that must wait until every earlier record is
	// done (a catalog waits for its bundles' outcome).
	Barrier func(*record.Record) bool
	// Seen, when set, hears about every record as it is read, including
	// those that pass through untouched.
	Seen func(*record.Record)
	// Progress, when set, is called after every ProgressEvery records the
	// stage handled (default 8), and once at the end.
	Progress      func(done int, t *Tally)
	ProgressEvery int
	// Meter, when set, counts records to do and done, for a progress bar.
	Meter *progress.Meter
}

// Run streams records from in to out through f. It returns the tally and an
// error only for unreadable input or unwritable output (a bad record line
// stops the run: the input is not ocm's).
func Run(ctx context.Context, in io.Reader, out io.Writer, o Options, f Func) (*Tally, error) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Pass == nil {
		o.Pass = func(r *record.Record) bool { return r.Done() }
	}
	if o.InputName == "" {
		o.InputName = "stdin"
	}
	type job struct {
		r    *record.Record
		pass bool
		done chan struct{}
	}
	tally := &Tally{ByStatus: map[record.Status]int{}}
	jobs := make(chan *job)
	ordered := make(chan *job, 4*o.Workers+64) // bounds records held in memory
	var wg sync.WaitGroup
	for i := 0; i < o.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				f(ctx, j.r)
				close(j.done)
			}
		}()
	}

	// Writer: emits records in input order as each finishes.
	w := record.NewWriter(out)
	writeErr := make(chan error, 1)
	every := o.ProgressEvery
	if every <= 0 {
		every = 8
	}
	go func() {
		var err error
		done := 0
		for j := range ordered {
			<-j.done
			tally.Add(j.r, j.pass)
			if err == nil {
				err = w.Write(j.r)
			}
			if !j.pass {
				o.Meter.Done(1, j.r.Status == record.StatusFailed)
				done++
				if o.Progress != nil && done%every == 0 {
					o.Progress(done, tally)
				}
			}
		}
		writeErr <- err
	}()

	rd := record.NewReader(in, o.InputName)
	var readErr error
	var inFlight []chan struct{} // dispatched since the last barrier
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		if o.Seen != nil {
			o.Seen(r)
		}
		j := &job{r: r, pass: o.Pass(r), done: make(chan struct{})}
		if !j.pass {
			o.Meter.AddTotal(1)
		}
		switch {
		case j.pass:
			close(j.done)
		case ctx.Err() != nil:
			// Interrupted: what is left goes out failed, so the summary and a
			// rerun know it was not done.
			r.Fail(o.Stage, fmt.Errorf("interrupted before this image was processed"))
			close(j.done)
		default:
			if o.Barrier != nil && o.Barrier(r) {
				for _, d := range inFlight {
					<-d
				}
				inFlight = inFlight[:0]
			}
			ordered <- j
			jobs <- j
			inFlight = append(inFlight, j.done)
			continue
		}
		ordered <- j
	}
	o.Meter.Final()
	close(jobs)
	wg.Wait()
	close(ordered)
	if err := <-writeErr; err != nil {
		return tally, fmt.Errorf("writing records: %w", err)
	}
	return tally, readErr
}
