package archive

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
)

var quiet = logging.New("test", logging.Error, io.Discard)

// fill pushes n images (sharing one base layer, each with a 64 KiB layer of
// its own) to an in-memory registry, fetches them into a new cache, and
// returns the cache and the records.
func fill(t testing.TB, n int) (*cache.Cache, []*record.Record, func(int) *record.Record) {
	t.Helper()
	s := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	base, _ := random.Layer(32<<10, "application/vnd.oci.image.layer.v1.tar")
	c := registry.New(registry.Options{TLSVerify: true})
	cch, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	eng := copier.New(copier.Options{})
	add := func(i int) *record.Record {
		own, _ := random.Layer(64<<10, "application/vnd.oci.image.layer.v1.tar")
		img, _ := mutate.AppendLayers(empty.Image, base, own)
		src := host + "/app/n" + string(rune('a'+i)) + ":1"
		ref, _ := name.ParseReference(src)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		mt, _ := img.MediaType()
		raw, _ := img.RawManifest()
		repo, _ := c.Repository(ref.Context().Name())
		if _, err := eng.Copy(context.Background(), &registry.Repo{Client: c, Name: repo}, d.String(), cch, src); err != nil {
			t.Fatal(err)
		}
		return &record.Record{V: 1, Origin: record.OriginAdditional, Source: src, Digest: d.String(), MediaType: string(mt), Size: int64(len(raw)), Destination: "app/x:1", Status: record.StatusCached}
	}
	var recs []*record.Record
	for i := 0; i < n; i++ {
		recs = append(recs, add(i))
	}
	return cch, recs, add
}

func clone(recs []*record.Record) []*record.Record {
	var out []*record.Record
	for _, r := range recs {
		c := *r
		out = append(out, &c)
	}
	return out
}

func unpackInto(t *testing.T, files []string) (*cache.Cache, *UnpackResult) {
	t.Helper()
	cch, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Unpacker{Cache: cch, Log: quiet}).Unpack(context.Background(), files)
	if err != nil {
		t.Fatal(err)
	}
	return cch, res
}

func TestPackSplitUnpack(t *testing.T) {
	cch, recs, _ := fill(t, 6)
	out := t.TempDir()
	const limit = 200 << 10
	res, err := (&Packer{Cache: cch, OutDir: out, MaxSize: limit, Log: quiet}).Pack(context.Background(), clone(recs))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < 3 {
		t.Fatalf("%d archives, want at least 3 under a %d-byte limit", len(res.Files), limit)
	}
	for _, f := range res.Files {
		fi, _ := os.Stat(f)
		if fi.Size() > limit {
			t.Errorf("%s is %d bytes, over %d", f, fi.Size(), limit)
		}
	}
	files, err := Expand([]string{out})
	if err != nil {
		t.Fatal(err)
	}
	dst, ur := unpackInto(t, files)
	if len(ur.Problems) > 0 {
		t.Fatalf("problems: %v", ur.Problems)
	}
	for _, r := range ur.Records {
		if r.Status != record.StatusCached {
			t.Fatalf("%s: %s %s", r.Source, r.Status, r.Error)
		}
		if d, ok, _ := dst.Lookup(r.Source); !ok || d.Digest != r.Digest {
			t.Fatalf("%s not named in the new cache", r.Source)
		}
	}
}

func TestStrictArchiveRefusesOversizeBlob(t *testing.T) {
	cch, recs, _ := fill(t, 2)
	_, err := (&Packer{Cache: cch, OutDir: t.TempDir(), MaxSize: 60 << 10, Strict: true, Log: quiet}).Pack(context.Background(), clone(recs))
	if err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("err = %v", err)
	}
	// Without strict, the big blob gets an archive of its own.
	res, err := (&Packer{Cache: cch, OutDir: t.TempDir(), MaxSize: 60 << 10, Log: quiet}).Pack(context.Background(), clone(recs))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < 2 {
		t.Fatalf("%d archives", len(res.Files))
	}
}

func TestIncrementalPack(t *testing.T) {
	cch, recs, add := fill(t, 3)
	out1, out2 := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	p := &Packer{Cache: cch, OutDir: out1, Log: quiet}
	first, err := p.Pack(context.Background(), clone(recs))
	if err != nil {
		t.Fatal(err)
	}
	// The history lives in the archive dir; a second set goes to a new dir
	// with the same history, as a user moving sets across would do.
	if err := os.MkdirAll(out2, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(out1, HistoryFile))
	os.WriteFile(filepath.Join(out2, HistoryFile), b, 0o644)
	recs = append(recs, add(3))
	second, err := (&Packer{Cache: cch, OutDir: out2, Log: quiet}).Pack(context.Background(), clone(recs))
	if err != nil {
		t.Fatal(err)
	}
	newBlobs := int64(64<<10) + 2048 // the new layer + config and manifest (small)
	if second.Packed > newBlobs+newBlobs/100 || second.Packed < 64<<10 {
		t.Fatalf("second set packed %d bytes, want about the new image's %d", second.Packed, newBlobs)
	}
	if first.Packed < 3*(64<<10) {
		t.Fatalf("first set packed %d bytes", first.Packed)
	}
	// Unpacking only the second set lacks the shared base: records say so.
	f2, _ := Expand([]string{out2})
	_, ur := unpackInto(t, f2)
	failed := 0
	for _, r := range ur.Records {
		if r.Status == record.StatusFailed {
			failed++
			if !strings.Contains(r.Error, "unpack the earlier archive sets first") {
				t.Errorf("error %q", r.Error)
			}
		}
	}
	if failed != 4 {
		t.Fatalf("%d failed records, want 4", failed)
	}
	// Both sets in order give every image.
	dst, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	u := &Unpacker{Cache: dst, Log: quiet}
	f1, _ := Expand([]string{out1})
	if _, err := u.Unpack(context.Background(), f1); err != nil {
		t.Fatal(err)
	}
	res, err := u.Unpack(context.Background(), f2)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Records {
		if r.Status != record.StatusCached {
			t.Fatalf("%s: %s", r.Source, r.Error)
		}
	}
}

func TestIncrementalSetsShareOneDirectory(t *testing.T) {
	cch, recs, add := fill(t, 2)
	out := t.TempDir()
	if _, err := (&Packer{Cache: cch, OutDir: out, Log: quiet}).Pack(context.Background(), clone(recs)); err != nil {
		t.Fatal(err)
	}
	recs = append(recs, add(2))
	second, err := (&Packer{Cache: cch, OutDir: out, Log: quiet}).Pack(context.Background(), clone(recs))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(second.Files[0]) != Name(2) {
		t.Fatalf("second set starts at %s, want %s", second.Files[0], Name(2))
	}
	files, _ := Expand([]string{out})
	_, ur := unpackInto(t, files)
	if len(ur.Records) != 3 || len(ur.Problems) > 0 {
		t.Fatalf("%d records, problems %v", len(ur.Records), ur.Problems)
	}
	for _, r := range ur.Records {
		if r.Status != record.StatusCached {
			t.Fatalf("%s: %s", r.Source, r.Error)
		}
	}
}

func TestCorruptArchives(t *testing.T) {
	cch, recs, _ := fill(t, 4)
	out := t.TempDir()
	res, err := (&Packer{Cache: cch, OutDir: out, MaxSize: 150 << 10, Log: quiet}).Pack(context.Background(), clone(recs))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < 2 {
		t.Fatalf("%d archives", len(res.Files))
	}
	copyDir := func() []string {
		d := t.TempDir()
		var fs []string
		for _, f := range res.Files {
			b, _ := os.ReadFile(f)
			p := filepath.Join(d, filepath.Base(f))
			os.WriteFile(p, b, 0o644)
			fs = append(fs, p)
		}
		return fs
	}
	cases := []struct {
		name   string
		damage func([]string) []string
		want   string
	}{
		{"missing archive", func(fs []string) []string { return fs[:len(fs)-1] }, "is missing"},
		{"truncated", func(fs []string) []string {
			last := fs[len(fs)-1]
			fi, _ := os.Stat(last)
			os.Truncate(last, fi.Size()/2)
			return fs
		}, "truncated"},
		{"flipped byte", func(fs []string) []string {
			last := fs[len(fs)-1]
			b, _ := os.ReadFile(last)
			// Past the metadata, inside the first blob.
			b[len(b)/2] ^= 0x01
			os.WriteFile(last, b, 0o644)
			return fs
		}, "digest mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := c.damage(copyDir())
			dst, ur := unpackInto(t, fs)
			if !strings.Contains(strings.Join(ur.Problems, "\n"), c.want) {
				t.Fatalf("problems %v, want %q", ur.Problems, c.want)
			}
			if !strings.Contains(strings.Join(ur.Problems, "\n"), filepath.Base(fs[len(fs)-1])) && c.name != "missing archive" {
				t.Fatalf("problems do not name the archive: %v", ur.Problems)
			}
			failed := 0
			for _, r := range ur.Records {
				if r.Status == record.StatusFailed {
					failed++
					if !strings.Contains(r.Error, "sha256:") {
						t.Errorf("record error does not name the blob: %s", r.Error)
					}
					continue
				}
				// Images reported whole are whole and verified.
				members, err := dst.ImageBlobs(r.Digest, r.MediaType)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range members {
					if _, err := dst.ReadBlob(m.Digest); err != nil && m.Size < 1<<20 {
						t.Fatalf("%s: %v", m.Digest, err)
					}
				}
			}
			if failed == 0 {
				t.Fatal("no record failed")
			}
		})
	}
}

// FuzzReadMeta feeds arbitrary bytes to the archive reader: errors, never
// panics. Seeds: junk, zeros, and a real two-image archive, so that
// mutations reach the table of contents, the records and the blobs.
func FuzzReadMeta(f *testing.F) {
	f.Add([]byte("not a tar"))
	f.Add(make([]byte, 1024))
	cch, recs, _ := fill(f, 2)
	out := f.TempDir()
	res, err := (&Packer{Cache: cch, OutDir: out, Log: quiet}).Pack(context.Background(), recs)
	if err != nil {
		f.Fatal(err)
	}
	real, err := os.ReadFile(res.Files[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	// One cache and one file per fuzzing process: opening a cache per input
	// made each run take a third of a second.
	work := f.TempDir()
	c, err := cache.Open(filepath.Join(work, "c"))
	if err != nil {
		f.Fatal(err)
	}
	p := filepath.Join(work, Name(1))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		readMeta(p)
		(&Unpacker{Cache: c, Log: quiet}).Unpack(context.Background(), []string{p})
	})
}
