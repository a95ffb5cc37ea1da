package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/testenv"
)

// TestProgressBarOnATerminal runs push and pack with stderr on a real
// pseudo-terminal (script(1)) and off one: a redrawn bar on the terminal, plain
// periodic lines in a pipe, and never an escape sequence in a log file.
func TestProgressBarOnATerminal(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dst := testenv.Start(t, testenv.RegistryOptions{})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl"); r.code != 0 {
		t.Fatal("plan failed")
	}
	all := records(t, sh(t, dir, nil, "cat plan.jsonl").stdout)
	n := 0 // images to push; blocked ones pass through
	for _, r := range all {
		if !r.Done() {
			n++
		}
	}

	// On a terminal: stdin and stdout stay files, stderr is the pty whose
	// transcript script prints.
	tty := sh(t, dir, nil, fmt.Sprintf(`script -qefc 'ocm-push docker://%s/tty < plan.jsonl > pushed.jsonl; ocm-fetch --cache cache < plan.jsonl | ocm-pack --cache cache --out archives > /dev/null' /dev/null`, dst.Host))
	if tty.code != 0 {
		t.Fatalf("exit %d\n%s", tty.code, tty.stdout)
	}
	for _, want := range []string{
		"\r\x1b[Kocm-push [",
		fmt.Sprintf("%d/%d images", n, n),
		"\r\x1b[Kocm-fetch [",
		"\r\x1b[Kocm-pack [",
		fmt.Sprintf("ocm-push: %d images", len(all)),
	} {
		if !strings.Contains(tty.stdout, want) {
			t.Errorf("terminal transcript lacks %q:\n%q", want, tty.stdout)
		}
	}
	if strings.Contains(tty.stdout, "progress: ") {
		t.Errorf("with a bar, periodic progress lines are redundant:\n%s", tty.stdout)
	}
	if got := len(records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout)); got != len(all) {
		t.Errorf("stdout carried %d records, want %d", got, len(all))
	}

	// Off a terminal: no escape sequences, periodic lines instead.
	plain := sh(t, dir, nil, fmt.Sprintf("ocm-push --progress auto docker://%s/plain < plan.jsonl > /dev/null", dst.Host))
	if plain.code != 0 || strings.Contains(plain.stderr, "\x1b") {
		t.Fatalf("exit %d; stderr off a terminal must be plain:\n%q", plain.code, plain.stderr)
	}
	if n >= 8 && !strings.Contains(plain.stderr, "progress: 8 images done") {
		t.Errorf("no periodic progress line off a terminal:\n%s", plain.stderr)
	}
	if r := sh(t, dir, nil, "ocm-push --progress fancy docker://x < /dev/null"); r.code != 2 || !strings.Contains(r.stderr, "--progress") {
		t.Errorf("bad --progress: exit %d, %q", r.code, r.stderr)
	}
}
