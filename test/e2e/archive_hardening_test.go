package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// packedFixture mirrors the fixture to disk: DIR/plan.jsonl, DIR/cache,
// DIR/fetched.jsonl and DIR/archives (packed with archiveSize). The source
// registry is stopped before it returns: what follows is the far side.
func packedFixture(t *testing.T, archiveSize string) (string, int) {
	t.Helper()
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl && ocm-fetch --cache cache < plan.jsonl > fetched.jsonl && ocm-pack --cache cache --out archives --archive-size "+archiveSize+" < fetched.jsonl > /dev/null")
	if r.code != 0 {
		t.Fatalf("plan|fetch|pack: exit %d", r.code)
	}
	src.Stop()
	return dir, len(set.Images) - 2 // the two alpine images are blocked
}

// rewriteMember rewrites the tar at path with member name's content
// replaced by edit(content); the tar itself stays well formed.
func rewriteMember(t *testing.T, path, name string, edit func([]byte) []byte) {
	t.Helper()
	in, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(in)), tar.NewWriter(&out)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			b, found = edit(b), true
			h.Size = int64(len(b))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	if !found {
		t.Fatalf("%s has no member %s", path, name)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// setIDOf reads the set id from an archive's table of contents.
func setIDOf(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	var toc struct{ SetID string }
	if err := json.NewDecoder(tr).Decode(&toc); err != nil || toc.SetID == "" {
		t.Fatalf("%s: no set id in the first member (%v)", path, err)
	}
	return toc.SetID
}

// TestF3RecordsCoveredByTOC: the records every archive carries are checked
// against the digest the table of contents gives for them, and the table of
// contents against its own checksum: a redirected destination, an emptied
// records file or a flipped byte in any archive's copy fails the unpack,
// naming the archive, and no tampered record reaches stdout.
func TestF3RecordsCoveredByTOC(t *testing.T) {
	dir, _ := packedFixture(t, "64KiB")
	files, _ := archiveFiles(t, filepath.Join(dir, "archives"))
	if len(files) < 2 {
		t.Fatalf("%d archives, want several", len(files))
	}
	first, last := files[0], files[len(files)-1]
	redirect := func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte(`"destination":"`), []byte(`"destination":"evil.example/`))
	}
	flipTOC := func(b []byte) []byte {
		// One hex digit of the first blob digest: the JSON still parses.
		i := bytes.Index(b, []byte(`"digest": "sha256:`))
		if i < 0 {
			t.Fatalf("no digest in the table of contents:\n%s", b)
		}
		i += len(`"digest": "sha256:`)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return b
	}
	cases := []struct {
		name, archive, member string
		edit                  func([]byte) []byte
		want                  string
	}{
		{"destination redirected in the first archive", first, "ocm/records.jsonl", redirect, first + ": ocm/records.jsonl does not match the table of contents"},
		{"destination redirected in the last archive", last, "ocm/records.jsonl", redirect, last + ": ocm/records.jsonl does not match the table of contents"},
		{"records emptied", first, "ocm/records.jsonl", func([]byte) []byte { return nil }, first + ": ocm/records.jsonl does not match the table of contents"},
		{"flipped byte in the table of contents", last, "ocm/toc.json", flipTOC, last + ": table of contents is damaged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if r := sh(t, dir, nil, "rm -rf bad far && cp -r archives bad"); r.code != 0 {
				t.Fatal("copying the archives")
			}
			rewriteMember(t, filepath.Join(dir, "bad", c.archive), c.member, c.edit)
			r := sh(t, dir, nil, "ocm-unpack bad --cache far > out.jsonl")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Fatalf("stderr lacks %q:\n%s", c.want, r.stderr)
			}
			if out := sh(t, dir, nil, "cat out.jsonl").stdout; strings.Contains(out, "evil.example") {
				t.Fatalf("a tampered record reached stdout:\n%s", out)
			}
		})
	}
}

// TestF5ConcurrentPacksIntoOneOut: while one ocm-pack writes into --out, a
// second one into the same directory is refused at once (exit 2, naming the
// directory and the running pack) and touches nothing; the first finishes a
// set that unpacks whole.
func TestF5ConcurrentPacksIntoOneOut(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 4<<20)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-fetch --cache cache > fetched.jsonl"); r.code != 0 {
		t.Fatalf("plan|fetch: exit %d", r.code)
	}
	src.Stop()
	// The first pack is frozen while it writes an archive, so the second
	// surely runs while the first is midway.
	first, firstErr := startStage(t, dir, "exec ocm-pack --cache cache --out archives --archive-size 6MiB < fetched.jsonl > packed1.jsonl")
	done := make(chan error, 1)
	go func() { done <- first.Wait() }()
	writing := func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "archives", ".tmp-mirror_*"))
		return len(m) > 0
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !writing() {
		select {
		case err := <-done:
			t.Fatalf("the first pack ended (%v) before it was seen writing: the test proves nothing\n%s", err, firstErr)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the first pack never wrote an archive")
		}
	}
	syscall.Kill(-first.Process.Pid, syscall.SIGSTOP)
	second := sh(t, dir, nil, "head -n 3 fetched.jsonl | ocm-pack --cache cache --out archives > packed2.jsonl")
	syscall.Kill(-first.Process.Pid, syscall.SIGCONT)
	if err := <-done; err != nil {
		t.Fatalf("first pack: %v\n%s", err, firstErr)
	}
	if second.code != 2 || !strings.Contains(second.stderr, "archives is in use by another ocm-pack") {
		t.Fatalf("second pack: exit %d, want 2 and a message naming the busy directory; stderr:\n%s", second.code, second.stderr)
	}
	r := sh(t, dir, nil, "ocm-unpack archives --cache far > unpacked.jsonl")
	if r.code != 0 {
		t.Fatalf("unpack of the first pack's set: exit %d\n%s", r.code, r.stderr)
	}
	cached := 0
	for _, rec := range records(t, sh(t, dir, nil, "cat unpacked.jsonl").stdout) {
		if rec.Status == record.StatusCached {
			cached++
		}
	}
	if cached != len(set.Images)-2 {
		t.Fatalf("%d images unpacked, want %d", cached, len(set.Images)-2)
	}
}

// TestF8MixedArchiveSetsRefused: an archive of another set put in place of
// one of a set's archives (under its own name or renamed) is refused before
// anything is loaded: exit 2, naming the file and both set ids.
func TestF8MixedArchiveSetsRefused(t *testing.T) {
	dir, _ := packedFixture(t, "64KiB")
	// Another set: part of the same images, packed apart.
	if r := sh(t, dir, nil, "head -n 5 fetched.jsonl | ocm-pack --cache cache --out other --archive-size 64KiB > /dev/null"); r.code != 0 {
		t.Fatalf("packing the other set: exit %d", r.code)
	}
	files, _ := archiveFiles(t, filepath.Join(dir, "archives"))
	others, _ := archiveFiles(t, filepath.Join(dir, "other"))
	if len(files) < 2 || len(others) < 2 {
		t.Fatalf("%d and %d archives, want at least 2 in each set", len(files), len(others))
	}
	idA, idB := setIDOf(t, filepath.Join(dir, "archives", files[0])), setIDOf(t, filepath.Join(dir, "other", others[0]))
	cases := []struct{ name, from string }{
		{"same name", "other/" + files[1]},
		{"renamed", "other/" + others[0]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sh(t, dir, nil, fmt.Sprintf("rm -rf mixed far && cp -r archives mixed && cp %s mixed/%s && ocm-unpack mixed --cache far > out.jsonl", c.from, files[1]))
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			for _, want := range []string{files[1], idA, idB} {
				if !strings.Contains(r.stderr, want) {
					t.Fatalf("stderr does not name %s:\n%s", want, r.stderr)
				}
			}
			if out := sh(t, dir, nil, "cat out.jsonl").stdout; out != "" {
				t.Fatalf("records written for a refused input:\n%s", out)
			}
		})
	}
}

// TestF9CorruptCacheBlob: a cached layer that is cut short is re-fetched by
// the next ocm-fetch; one damaged in place (same size) fails its own image
// in ocm-pack, with the fix, while every other image is packed; the next
// fetch re-fetches it and the next pack completes the mirror.
func TestF9CorruptCacheBlob(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl && ocm-fetch --cache cache < plan.jsonl > fetched.jsonl"); r.code != 0 {
		t.Fatalf("plan|fetch: exit %d", r.code)
	}
	// docker/legacy has one layer of its own.
	legacy, _ := set.ByRepo("docker/legacy")
	var m struct{ Layers []struct{ Digest string } }
	if err := json.Unmarshal([]byte(sh(t, dir, nil, "cat cache/blobs/sha256/"+legacy.Digest[7:]).stdout), &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("legacy manifest: %v", err)
	}
	layer := m.Layers[0].Digest
	blob := filepath.Join(dir, "cache", "blobs", "sha256", layer[7:])
	intact := func() bool {
		b, err := os.ReadFile(blob)
		s := sha256.Sum256(b)
		return err == nil && "sha256:"+hex.EncodeToString(s[:]) == layer
	}

	t.Run("cut short", func(t *testing.T) {
		if r := sh(t, dir, nil, "truncate -s -100 "+blob); r.code != 0 || intact() {
			t.Fatal("could not damage the blob")
		}
		r := sh(t, dir, nil, "ocm-fetch --cache cache < plan.jsonl > /dev/null")
		if r.code != 0 {
			t.Fatalf("fetch: exit %d\n%s", r.code, r.stderr)
		}
		if !intact() {
			t.Fatalf("the cut blob is still damaged after a rerun of ocm-fetch:\n%s", r.stderr)
		}
	})

	t.Run("damaged in place", func(t *testing.T) {
		if r := sh(t, dir, nil, "printf '\\x00\\x01' | dd of="+blob+" bs=1 seek=100 conv=notrunc status=none"); r.code != 0 || intact() {
			t.Fatal("could not damage the blob")
		}
		r := sh(t, dir, nil, "ocm-pack --cache cache --out archives < fetched.jsonl > packed.jsonl")
		if r.code != 1 {
			t.Fatalf("pack: exit %d, want 1\n%s", r.code, r.stderr)
		}
		packed, failed := 0, 0
		for _, rec := range records(t, sh(t, dir, nil, "cat packed.jsonl").stdout) {
			switch {
			case rec.Status == record.StatusFailed && rec.Source == src.Host+"/docker/legacy:v1":
				failed++
				if !strings.Contains(rec.Error, layer) || !strings.Contains(rec.Error, "fix: run ocm-fetch") {
					t.Errorf("error names neither the blob nor the fix: %s", rec.Error)
				}
			case rec.Status == record.StatusCached && rec.Stage == "pack":
				packed++
			case rec.Status == record.StatusSkipped: // blocked
			default:
				t.Errorf("%s: %s at %s: %s", rec.Source, rec.Status, rec.Stage, rec.Error)
			}
		}
		if failed != 1 || packed != len(set.Images)-3 {
			t.Fatalf("%d failed, %d packed; want the legacy image failed and the %d others packed", failed, packed, len(set.Images)-3)
		}
		// The next fetch repairs the cache, the next pack carries the image.
		if r := sh(t, dir, nil, "ocm-fetch --cache cache < plan.jsonl > fetched2.jsonl && ocm-pack --cache cache --out archives < fetched2.jsonl > /dev/null"); r.code != 0 {
			t.Fatalf("fetch|pack after the repair: exit %d\n%s", r.code, r.stderr)
		}
		if !intact() {
			t.Fatal("the blob is still damaged")
		}
		r = sh(t, dir, nil, "ocm-unpack archives --cache far > unpacked.jsonl")
		if r.code != 0 {
			t.Fatalf("unpack: exit %d\n%s", r.code, r.stderr)
		}
		n := 0
		for _, rec := range records(t, sh(t, dir, nil, "cat unpacked.jsonl").stdout) {
			if rec.Status == record.StatusCached {
				n++
			}
		}
		if n != len(set.Images)-2 {
			t.Fatalf("%d images unpacked, want %d", n, len(set.Images)-2)
		}
	})
}

// TestF11KilledRunsLeaveNoTempFiles: ocm-fetch and ocm-pack killed with
// SIGKILL midway leave temp files; the next run removes them (their writers
// are dead) and finishes.
func TestF11KilledRunsLeaveNoTempFiles(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 6<<20)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl"); r.code != 0 {
		t.Fatalf("plan: exit %d", r.code)
	}
	temps := func(pattern string) []string {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		return m
	}
	stages := []struct {
		name, run, temps string
	}{
		{"fetch", "ocm-fetch --cache cache < plan.jsonl > fetched.jsonl", "cache/blobs/sha256/.tmp-*"},
		{"pack", "ocm-pack --cache cache --out archives --archive-size 8MiB < fetched.jsonl > /dev/null", "archives/.tmp-*"},
	}
	for _, s := range stages {
		cmd, _ := startStage(t, dir, "exec "+s.run)
		if !killWhen(cmd, func() bool { return len(temps(s.temps)) > 0 }, 0) {
			t.Fatalf("%s ended before writing a temp file: the test proves nothing", s.name)
		}
		left := temps(s.temps)
		if len(left) == 0 {
			t.Fatalf("killed %s left no temp file: the test proves nothing", s.name)
		}
		t.Logf("killed %s left %s", s.name, strings.Join(left, ", "))
		if r := sh(t, dir, nil, s.run); r.code != 0 {
			t.Fatalf("rerun of %s: exit %d\n%s", s.name, r.code, r.stderr)
		}
		for _, p := range []string{"cache/.tmp-*", "cache/blobs/sha256/.tmp-*", "archives/.tmp-*"} {
			if m := temps(p); len(m) > 0 {
				t.Fatalf("after the rerun of %s: %s left", s.name, strings.Join(m, ", "))
			}
		}
	}
	if r := sh(t, dir, nil, "ocm-unpack archives --cache far > /dev/null"); r.code != 0 {
		t.Fatalf("unpack: exit %d\n%s", r.code, r.stderr)
	}
}
