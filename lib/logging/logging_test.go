package logging

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestStatusStaysBelowLogLines(t *testing.T) {
	var b bytes.Buffer
	l := New("ocm-push", Info, &b)
	n := 1
	bar := func() string { return fmt.Sprintf("[bar] %d/3 images", n) }
	l.Infof("before any bar")
	l.SetStatus(bar)
	n = 2
	l.Infof("copied %s", "a")
	n = 3
	l.Redraw()
	l.KeepStatus()
	l.Infof("after")
	lines := strings.Split(b.String(), "\n")
	want := []string{
		"before any bar",
		// drawn, cleared before the log line (which prints), drawn fresh after it
		clearLine + "[bar] 1/3 images" + clearLine + "#[INFO] copied a",
		// redrawn with the final figures, kept as a line of its own
		"[bar] 2/3 images" + clearLine + "[bar] 3/3 images" + clearLine + "[bar] 3/3 images",
		"#[INFO] after",
		"",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d: %q", len(lines), len(want), b.String())
	}
	for i, w := range want {
		got := lines[i]
		if pre, post, ok := strings.Cut(w, "#"); ok {
			// A log line: the time varies; check what is around it.
			if !strings.HasPrefix(got, pre) || !strings.HasSuffix(got, post) || !strings.Contains(got, " ocm-push ") {
				t.Errorf("line %d = %q, want %q<time> ocm-push ...%q", i, got, pre, post)
			}
			continue
		}
		if i == 0 {
			if !strings.HasSuffix(got, w) || strings.Contains(got, "\r") {
				t.Errorf("line 0 = %q: a plain log line", got)
			}
			continue
		}
		if got != w {
			t.Errorf("line %d = %q, want %q", i, got, w)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Level
		ok   bool
	}{{"error", Error, true}, {"INFO", Info, true}, {"trace", Trace, true}, {"loud", Info, false}} {
		got, err := ParseLevel(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseLevel(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestF12LogLinesCannotBeForged(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\n12:00:00 ocm-push [INFO] forged", `a\n12:00:00 ocm-push [INFO] forged`},
		{"cr\rover", `cr\rover`},
		{"esc \x1b[2J", `esc \x1b[2J`},
		{"nel \u0085 del \x7f", `nel \u0085 del \x7f`},
		{"unicode é ✓ stays", "unicode é ✓ stays"},
	}
	for _, c := range cases {
		var b bytes.Buffer
		New("ocm-push", Info, &b).Errorf("image %s failed", c.in)
		out := b.String()
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "[ERROR] image "+c.want+" failed\n") {
			t.Errorf("%q logged as %q", c.in, out)
		}
	}
}
