package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
)

// cancelAfter is a log sink that cancels a pack once it has written n
// archives, as a kill between two archives would stop it.
type cancelAfter struct {
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Contains(p, []byte("[INFO] wrote ")) {
		if c.n--; c.n == 0 {
			c.cancel()
		}
	}
	return len(p), nil
}

func archivesIn(t *testing.T, dir string) []string {
	t.Helper()
	files, err := Expand([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// interruptedPack packs 6 images under a 200 KiB archive limit and stops the
// pack after its first archive.
func interruptedPack(t *testing.T) (*cache.Cache, []*record.Record, string) {
	t.Helper()
	cch, recs, _ := fill(t, 6)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	stop := &cancelAfter{n: 1, cancel: cancel}
	if _, err := (&Packer{Cache: cch, OutDir: out, MaxSize: 200 << 10, Log: logging.New("test", logging.Info, stop)}).Pack(ctx, clone(recs)); err == nil {
		t.Fatal("the pack was not interrupted")
	}
	return cch, recs, out
}

func TestInterruptedPackIsFinishedByTheRerun(t *testing.T) {
	cch, recs, out := interruptedPack(t)
	const limit = 200 << 10
	if len(archivesIn(t, out)) != 1 {
		t.Fatalf("want the one archive written before the stop, got %v", archivesIn(t, out))
	}
	if _, err := os.Stat(filepath.Join(out, JournalFile)); err != nil {
		t.Fatalf("no journal after the interruption: %v", err)
	}

	res, err := (&Packer{Cache: cch, OutDir: out, MaxSize: limit, Log: quiet}).Pack(context.Background(), clone(recs))
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept != 1 || len(res.Files) < 3 {
		t.Fatalf("rerun kept %d archives and lists %d, want 1 kept of at least 3", res.Kept, len(res.Files))
	}
	if _, err := os.Stat(filepath.Join(out, JournalFile)); !os.IsNotExist(err) {
		t.Fatalf("journal left after the set was finished: %v", err)
	}
	files := archivesIn(t, out)
	if len(files) != len(res.Files) {
		t.Fatalf("directory holds %d archives, the set %d: an orphan was left", len(files), len(res.Files))
	}
	_, ur := unpackInto(t, files)
	if len(ur.Problems) > 0 {
		t.Fatalf("unpack of the finished set: %v", ur.Problems)
	}
	for _, r := range ur.Records {
		if r.Status != "cached" {
			t.Errorf("%s: %s %s", r.Source, r.Status, r.Error)
		}
	}
}

func TestInterruptedPackOfAnotherSetIsDiscarded(t *testing.T) {
	cch, recs, out := interruptedPack(t)
	const limit = 200 << 10
	// The rerun packs fewer images: the half-written set is of no use.
	var log bytes.Buffer
	res, err := (&Packer{Cache: cch, OutDir: out, MaxSize: limit, Log: logging.New("test", logging.Info, &log)}).Pack(context.Background(), clone(recs[:3]))
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept != 0 || !strings.Contains(log.String(), "removing its archives") {
		t.Fatalf("kept %d archives of another set; log:\n%s", res.Kept, log.String())
	}
	files := archivesIn(t, out)
	if len(files) != len(res.Files) {
		t.Fatalf("directory holds %v, the set %v", files, res.Files)
	}
	if _, ur := unpackInto(t, files); len(ur.Problems) > 0 || len(ur.Records) != 3 {
		t.Fatalf("unpack: %d records, problems %v", len(ur.Records), ur.Problems)
	}
}

// TestRerunAfterAFinishedPack: the same pack again writes nothing, even
// when the first was killed between recording its set and removing the
// journal (its archives must not be taken for an abandoned set's).
func TestRerunAfterAFinishedPack(t *testing.T) {
	cch, recs, _ := fill(t, 4)
	out := t.TempDir()
	const limit = 200 << 10
	first, err := (&Packer{Cache: cch, OutDir: out, MaxSize: limit, Log: quiet}).Pack(context.Background(), clone(recs))
	if err != nil {
		t.Fatal(err)
	}
	// Put back the journal the finished pack removed.
	j := &journal{TOC: first.TOC, Records: "whatever the records were", MaxSize: limit}
	if err := j.save(out); err != nil {
		t.Fatal(err)
	}
	again, err := (&Packer{Cache: cch, OutDir: out, MaxSize: limit, Log: quiet}).Pack(context.Background(), clone(recs))
	if err != nil {
		t.Fatal(err)
	}
	if again.Unchanged != first.TOC.SetID || len(again.Files) != 0 {
		t.Fatalf("rerun: unchanged %q, files %v; want nothing written after set %s", again.Unchanged, again.Files, first.TOC.SetID)
	}
	if files := archivesIn(t, out); len(files) != len(first.Files) {
		t.Fatalf("directory holds %v, want the first set %v", files, first.Files)
	}
	if _, err := os.Stat(filepath.Join(out, JournalFile)); !os.IsNotExist(err) {
		t.Fatalf("stale journal kept: %v", err)
	}
	// One more image: a new, incremental set.
	more := append(clone(recs), clone(recs[:1])...)
	more[len(more)-1].Source += "-again"
	next, err := (&Packer{Cache: cch, OutDir: out, MaxSize: limit, Log: quiet}).Pack(context.Background(), more)
	if err != nil {
		t.Fatal(err)
	}
	if next.TOC == nil || next.TOC.SetID == first.TOC.SetID || !next.TOC.Incremental {
		t.Fatalf("changed records must give a new incremental set: %+v", next.TOC)
	}
}
