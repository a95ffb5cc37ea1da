package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestF11CleanStaleKeepsLiveWriters: a temp file nobody holds (its writer
// died) is removed; one a writer is still filling is not, and that writer
// finishes its file.
func TestF11CleanStaleKeepsLiveWriters(t *testing.T) {
	dir := t.TempDir()
	dead := filepath.Join(dir, TempPrefix+"blob-123")
	if err := os.WriteFile(dead, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	release, started := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		err := WriteFile(filepath.Join(dir, "other"), nil, 0o644) // a finished writer leaves nothing
		if err != nil {
			done <- err
			return
		}
		_, err = Write(filepath.Join(dir, "live"), func(w io.Writer) error {
			w.Write([]byte("half"))
			close(started)
			<-release
			_, err := w.Write([]byte(" and whole"))
			return err
		}, 0o644)
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(time.Minute):
		t.Fatal("writer did not start")
	}
	removed, err := CleanStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != filepath.Base(dead) {
		t.Fatalf("removed %v, want only %s", removed, filepath.Base(dead))
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("dead writer's temp file is still there: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	live := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), TempPrefix+"live-") {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("%d temp files of the live writer, want 1", live)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("live writer: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "live")); err != nil || string(b) != "half and whole" {
		t.Fatalf("live file: %q, %v", b, err)
	}
	if removed, _ := CleanStale(dir); len(removed) != 0 {
		t.Fatalf("nothing stale left, yet removed %v", removed)
	}
}
