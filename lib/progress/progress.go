// Package progress draws a one-line progress bar on a terminal: items done
// out of the total known so far, bytes moved and the rate. Off a terminal it
// draws nothing; the commands log periodic lines instead.
package progress

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Meter is what a stage counts as it works. All fields are safe to update
// from many goroutines.
type Meter struct {
	Unit   string       // what Done and Total count: "images" or "bytes"
	total  atomic.Int64 // grows as input is read
	done   atomic.Int64
	failed atomic.Int64
	final  atomic.Bool // the input is fully read: total will not grow
	// Bytes, when set, reports bytes moved so far (for the rate).
	Bytes func() int64
}

// AddTotal grows the amount of work known.
func (m *Meter) AddTotal(n int64) {
	if m != nil {
		m.total.Add(n)
	}
}

// Done records n units finished; failed ones count as done too.
func (m *Meter) Done(n int64, failed bool) {
	if m == nil {
		return
	}
	m.done.Add(n)
	if failed {
		m.failed.Add(1)
	}
}

// Final says the total is now complete.
func (m *Meter) Final() {
	if m != nil {
		m.final.Store(true)
	}
}

// Counter wraps r so the bytes read through it count as done (for
// byte-unit meters).
func (m *Meter) Counter(r io.Reader) io.Reader {
	if m == nil {
		return r
	}
	if s, ok := r.(io.Seeker); ok {
		// Keep Seek: archive/tar seeks past members it skips.
		return &countingReadSeeker{countingReader{r: r, m: m}, s}
	}
	return &countingReader{r: r, m: m}
}

type countingReadSeeker struct {
	countingReader
	s io.Seeker
}

// Seek counts bytes skipped forward as done.
func (c *countingReadSeeker) Seek(offset int64, whence int) (int64, error) {
	pos, err := c.s.Seek(offset, whence)
	if err == nil && whence == io.SeekCurrent && offset > 0 {
		c.m.done.Add(offset)
	}
	return pos, err
}

type countingReader struct {
	r io.Reader
	m *Meter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.m.done.Add(int64(n))
	return n, err
}

// Line renders the meter as one line of at most width columns, given the
// time elapsed since the start.
func (m *Meter) Line(elapsed time.Duration, width int) string {
	done, total, failed := m.done.Load(), m.total.Load(), m.failed.Load()
	var bytes int64
	if m.Bytes != nil {
		bytes = m.Bytes()
	} else if m.Unit == "bytes" {
		bytes = done
	}
	var count string
	if m.Unit == "bytes" {
		count = fmt.Sprintf("%s/%s", HumanBytes(done), HumanBytes(total))
	} else {
		plus := ""
		if !m.final.Load() {
			plus = "+" // more input may still come
		}
		count = fmt.Sprintf("%d/%d%s %s", done, total, plus, m.Unit)
	}
	tail := count
	if failed > 0 {
		tail += fmt.Sprintf(", %d failed", failed)
	}
	if bytes > 0 || m.Bytes != nil {
		rate := 0.0
		if s := elapsed.Seconds(); s > 0 {
			rate = float64(bytes) / s
		}
		if m.Unit != "bytes" {
			tail += ", " + HumanBytes(bytes)
		}
		tail += fmt.Sprintf(", %s/s", HumanBytes(int64(rate)))
	}
	barW := width - len(tail) - 4
	if barW > 40 {
		barW = 40
	}
	if barW < 10 {
		return tail
	}
	fill := 0
	if total > 0 {
		fill = int(float64(barW) * float64(done) / float64(total))
	}
	if fill > barW {
		fill = barW
	}
	return "[" + strings.Repeat("=", fill) + strings.Repeat(" ", barW-fill) + "] " + tail
}

// HumanBytes formats n as B, KiB, MiB, GiB or TiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGT"[exp])
}

// StatusWriter is where the bar goes: a logger that keeps the bar on the
// last line while log lines scroll above it.
type StatusWriter interface {
	SetStatus(render func() string)
	Redraw()
	KeepStatus()
}

// IsTerminal tells whether f is a character device (a terminal), which is
// where a redrawn bar makes sense.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Start draws m on w and redraws it every interval until the returned stop
// is called; stop draws the final figures and leaves them on screen. Label
// prefixes the line (the stage name).
func Start(ctx context.Context, w StatusWriter, m *Meter, label string, interval time.Duration) (stop func()) {
	start := time.Now()
	w.SetStatus(func() string { return label + " " + m.Line(time.Since(start), 100-len(label)) })
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.Redraw()
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		w.KeepStatus()
	}
}
