package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/store"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// readCounter counts the bytes read (not those seeked past).
type readCounter struct {
	io.ReadSeeker
	n int64
}

func (r *readCounter) Read(p []byte) (int, error) {
	n, err := r.ReadSeeker.Read(p)
	r.n += int64(n)
	return n, err
}

// tarOf writes members (name, content) as a tar.
func tarOf(t *testing.T, members ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		if err := tw.WriteHeader(&tar.Header{Name: m[0], Mode: 0o644, Size: int64(len(m[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(m[1]))
	}
	tw.Close()
	return buf.Bytes()
}

func blobMember(content string) ([2]string, Member) {
	d := verify.Digest([]byte(content))
	return [2]string{"blobs/sha256/" + d[7:], content}, Member{Digest: d, Size: int64(len(content))}
}

// The index reads tar headers only: member data is seeked past, and the
// offsets it gives read back each member's content.
func TestIndexReadsHeadersOnly(t *testing.T) {
	big := strings.Repeat("x", 4<<20)
	m1, b1 := blobMember(big)
	m2, b2 := blobMember("small")
	m3, b3 := blobMember(strings.Repeat("y", 3<<20+7))
	// A long name takes a PAX header block of its own.
	long := [2]string{"ocm/" + strings.Repeat("n", 200), "z"}
	data := tarOf(t, [2]string{TOCMember, `{"setID":"s1"}`}, m1, long, m2, m3)
	rc := &readCounter{ReadSeeker: bytes.NewReader(data)}
	found, problems := indexTar(rc, "s1", Archive{Blobs: []Member{b1, b2, b3}})
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	t.Logf("indexing read %d bytes of a %d-byte archive", rc.n, len(data))
	if rc.n > 64<<10 {
		t.Fatalf("indexing read %d bytes of a %d-byte archive: it read member data", rc.n, len(data))
	}
	for _, want := range []struct {
		m       Member
		content string
	}{{b1, big}, {b2, "small"}, {b3, m3[1]}} {
		f, ok := found[want.m.Digest]
		if !ok || f.size != want.m.Size {
			t.Fatalf("%s: found %+v", want.m.Digest, f)
		}
		if got := string(data[f.offset : f.offset+f.size]); got != want.content {
			t.Fatalf("%s at %d reads %.20q", want.m.Digest, f.offset, got)
		}
	}
}

func TestIndexProblems(t *testing.T) {
	m1, b1 := blobMember(strings.Repeat("a", 5000))
	_, b2 := blobMember("listed, not packed")
	stray, _ := blobMember("not listed")
	good := tarOf(t, [2]string{TOCMember, `{"setID":"s1"}`}, m1)
	cases := []struct {
		name string
		data []byte
		want Archive
		says string
	}{
		{"member not listed", tarOf(t, m1, stray), Archive{Blobs: []Member{b1}}, "member " + stray[0] + " is not in the set's table of contents"},
		{"listed blob absent", good, Archive{Blobs: []Member{b1, b2}}, "blob " + b2.Digest + " listed in the table of contents is absent"},
		{"other set", good, Archive{Blobs: []Member{b1}}, "belongs to another archive set"},
		{"truncated inside a blob", good[:2048], Archive{Blobs: []Member{b1}}, "truncated inside blob " + b1.Digest},
		{"damaged header", append(append([]byte{}, good[:1024]...), bytes.Repeat([]byte{7}, 1024)...), Archive{Blobs: []Member{b1}}, "damaged or truncated after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := "s1"
			if c.name == "other set" {
				set = "s2"
			}
			_, problems := indexTar(bytes.NewReader(c.data), set, c.want)
			var all []string
			for _, p := range problems {
				all = append(all, p.text)
			}
			if !strings.Contains(strings.Join(all, "\n"), c.says) {
				t.Fatalf("problems %q, want %q", all, c.says)
			}
		})
	}
}

// A blob read from the store is verified: a damaged one fails at EOF with
// a BlobError naming it and its archive, is noted once, and fails at once
// when asked again; one no archive carries is store.ErrNotFound.
func TestStoreVerifiesBlobs(t *testing.T) {
	m1, b1 := blobMember(strings.Repeat("a", 5000))
	m2, b2 := blobMember(strings.Repeat("b", 3000))
	data := tarOf(t, [2]string{TOCMember, `{"setID":"s1"}`}, m1, m2)
	found, _ := indexTar(bytes.NewReader(data), "s1", Archive{Blobs: []Member{b1, b2}})
	data[found[b2.Digest].offset+10] ^= 1
	path := filepath.Join(t.TempDir(), Name(1))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	toc := &TOC{SetID: "s1", Archives: []Archive{{Name: Name(1), Blobs: []Member{b1, b2}}}}
	s := openStore([]*set{{meta: &meta{toc: toc}, files: []string{path}}}, nil, quiet)
	defer s.Close()
	ctx := context.Background()
	read := func(d string) error {
		rc, err := s.Blob(ctx, d, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, rc)
		return err
	}
	if err := read(b1.Digest); err != nil {
		t.Fatal(err)
	}
	var be *BlobError
	for i := 0; i < 2; i++ {
		if err := read(b2.Digest); !errors.As(err, &be) || be.Digest != b2.Digest || be.Archive != Name(1) {
			t.Fatalf("damaged blob: %v", err)
		}
	}
	if p := s.Problems(); len(p) != 1 || !strings.Contains(p[0], "archive "+Name(1)+": blob "+b2.Digest+" rejected") {
		t.Fatalf("problems %q", p)
	}
	if s.Written(Name(1)) != b1.Size {
		t.Fatalf("written %d, want %d", s.Written(Name(1)), b1.Size)
	}
	absent := verify.Digest([]byte("nowhere"))
	if err := read(absent); !errors.Is(err, store.ErrNotFound) || !errors.As(err, &be) || be.Digest != absent {
		t.Fatalf("absent blob: %v", err)
	}
}

// A set that names, under a new source, an image an earlier set carried
// holds none of its blobs: unpacked on its own after the earlier one, the
// image is copied from what the cache holds and named.
func TestIncrementalSetNamesACachedImage(t *testing.T) {
	cch, recs, _ := fill(t, 2)
	out := t.TempDir()
	if _, err := (&Packer{Cache: cch, OutDir: out, Log: quiet}).Pack(context.Background(), clone(recs)); err != nil {
		t.Fatal(err)
	}
	first, _ := Expand([]string{out})
	alias := *recs[0]
	alias.Source = strings.Replace(alias.Source, ":1", ":alias", 1)
	if _, err := (&Packer{Cache: cch, OutDir: out, Log: quiet}).Pack(context.Background(), clone(append(recs, &alias))); err != nil {
		t.Fatal(err)
	}
	all, _ := Expand([]string{out})
	second := all[len(first):]
	if len(second) != 1 {
		t.Fatalf("second set: %v", second)
	}
	dst, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	u := &Unpacker{Cache: dst, Log: quiet}
	if _, err := u.Unpack(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	res, err := u.Unpack(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 3 || len(res.Problems) > 0 {
		t.Fatalf("%d records, problems %v", len(res.Records), res.Problems)
	}
	for _, r := range res.Records {
		if r.Status != record.StatusCached {
			t.Fatalf("%s: %s %s", r.Source, r.Status, r.Error)
		}
	}
	if d, ok, _ := dst.Lookup(alias.Source); !ok || d.Digest != alias.Digest {
		t.Fatalf("%s not named in the cache", alias.Source)
	}
}
