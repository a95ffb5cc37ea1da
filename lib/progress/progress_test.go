package progress

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name  string
		setup func(m *Meter)
		width int
		want  []string // substrings, in order
		not   []string
	}{
		{
			name: "images, input still coming",
			setup: func(m *Meter) {
				m.Unit = "images"
				m.AddTotal(10)
				m.Done(4, false)
				m.Done(1, true)
				m.Bytes = func() int64 { return 20 << 20 }
			},
			width: 100,
			want:  []string{"[", "====", "] ", "5/10+ images", "1 failed", "20.0 MiB", "10.0 MiB/s"},
		},
		{
			name: "images, total known",
			setup: func(m *Meter) {
				m.Unit = "images"
				m.AddTotal(8)
				m.Final()
				m.Done(8, false)
			},
			width: 100,
			want:  []string{"[" + strings.Repeat("=", 40) + "]", "8/8 images"},
			not:   []string{"+", "failed"},
		},
		{
			name: "bytes",
			setup: func(m *Meter) {
				m.Unit = "bytes"
				m.AddTotal(4 << 30)
				m.Final()
				m.done.Add(1 << 30)
			},
			width: 100,
			want:  []string{"1.0 GiB/4.0 GiB", "512.0 MiB/s"},
		},
		{
			name: "narrow terminal drops the bar",
			setup: func(m *Meter) {
				m.Unit = "images"
				m.AddTotal(3)
			},
			width: 20,
			want:  []string{"0/3+ images"},
			not:   []string{"["},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &Meter{}
			tc.setup(m)
			got := m.Line(2*time.Second, tc.width)
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Line() = %q, missing %q (in order)", got, w)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("Line() = %q, should not contain %q", got, n)
				}
			}
			if len(got) > tc.width && tc.width >= 40 {
				t.Errorf("Line() is %d columns, wider than %d", len(got), tc.width)
			}
		})
	}
}

func TestNilMeterIsInert(t *testing.T) {
	var m *Meter
	m.AddTotal(1)
	m.Done(1, true)
	m.Final()
	r := strings.NewReader("abc")
	if m.Counter(r) != r {
		t.Fatal("a nil meter must hand the reader back unwrapped")
	}
}

func TestCounterCountsBytes(t *testing.T) {
	m := &Meter{Unit: "bytes"}
	buf := make([]byte, 3)
	rd := m.Counter(strings.NewReader("hello world"))
	for {
		if _, err := rd.Read(buf); err != nil {
			break
		}
	}
	if got := m.done.Load(); got != 11 {
		t.Fatalf("counted %d bytes, want 11", got)
	}
}

func TestCounterKeepsSeek(t *testing.T) {
	m := &Meter{Unit: "bytes"}
	rd := m.Counter(strings.NewReader("0123456789"))
	s, ok := rd.(io.Seeker)
	if !ok {
		t.Fatal("the counter hides Seek: tar would read skipped members instead of seeking")
	}
	if _, err := s.Seek(4, io.SeekCurrent); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(rd)
	if string(rest) != "456789" || m.done.Load() != 10 {
		t.Fatalf("read %q after the seek, counted %d; want 456789 and 10", rest, m.done.Load())
	}
}

// recorder is a StatusWriter that keeps every line drawn.
type recorder struct {
	mu     sync.Mutex
	render func() string
	lines  []string
	kept   string
}

func (r *recorder) SetStatus(render func() string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.render = render
	r.lines = append(r.lines, render())
}

func (r *recorder) Redraw() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, r.render())
}

func (r *recorder) KeepStatus() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kept = r.render()
}

func TestStartRedrawsAndKeepsTheLast(t *testing.T) {
	m := &Meter{Unit: "images"}
	m.AddTotal(2)
	rec := &recorder{}
	stop := Start(context.Background(), rec, m, "ocm-push", 5*time.Millisecond)
	seen := func(sub string) bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, l := range rec.lines {
			if strings.Contains(l, sub) {
				return true
			}
		}
		return false
	}
	waitFor := func(sub string) {
		for deadline := time.Now().Add(10 * time.Second); !seen(sub); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no redraw showed %q: %q", sub, rec.lines)
			}
		}
	}
	waitFor("0/2+ images")
	m.Done(2, false)
	m.Final()
	waitFor("2/2 images")
	stop()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !strings.HasPrefix(rec.lines[0], "ocm-push [") {
		t.Errorf("first draw %q: want the stage name, then the bar", rec.lines[0])
	}
	if !strings.Contains(rec.kept, "2/2 images") {
		t.Errorf("stop must leave the final figures on screen, kept %q", rec.kept)
	}
}
