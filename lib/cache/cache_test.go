package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/verify"
)

func open(t *testing.T) *Cache {
	t.Helper()
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOpen(t *testing.T) {
	cases := []struct {
		name   string
		layout string // oci-layout written before Open; "" none
		err    string // "" opens
	}{
		{name: "new directory"},
		{name: "ocm cache", layout: `{"imageLayoutVersion":"1.0.0"}`},
		{name: "later 1.x layout", layout: `{"imageLayoutVersion":"1.1.0"}`},
		{name: "not a layout marker", layout: `hello`, err: "not an OCI image layout marker"},
		{name: "layout without version", layout: `{}`, err: "not an OCI image layout marker"},
		{name: "layout 2.0", layout: `{"imageLayoutVersion":"2.0.0"}`, err: `imageLayoutVersion "2.0.0"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.layout != "" {
				if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(tc.layout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Open(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Open = %v, want an error saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			refs, err := c.Refs()
			if err != nil || len(refs) != 0 {
				t.Fatalf("Refs of a new cache = %v, %v; want none", refs, err)
			}
			for _, f := range []string{"oci-layout", "index.json", "blobs/sha256"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s not made: %v", f, err)
				}
			}
		})
	}
}

func TestOpenRemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "blobs", "sha256", ".tmp-killed")
	if err := os.WriteFile(stale, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temp file of a killed writer kept: %v", err)
	}
}

func TestPut(t *testing.T) {
	content := []byte("some blob content")
	good := verify.Digest(content)
	cases := []struct {
		name   string
		digest string
		size   int64
		ok     bool
	}{
		{"digest and size", good, int64(len(content)), true},
		{"size unknown", good, -1, true},
		{"wrong digest", verify.Digest([]byte("other")), int64(len(content)), false},
		{"short", good, int64(len(content)) + 1, false},
		{"long", good, int64(len(content)) - 1, false},
		{"not sha256", "md5:abc", int64(len(content)), false},
		{"uppercase digest", strings.ToUpper(good[:7]) + good[7:], int64(len(content)), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t)
			n, err := c.Put(context.Background(), tc.digest, tc.size, bytes.NewReader(content))
			if !tc.ok {
				if err == nil {
					t.Fatal("Put accepted bad content")
				}
				if ok, _ := c.Has(good); ok {
					t.Fatal("bad content stored under the good digest")
				}
				if verify.ValidDigest(tc.digest) {
					if ok, _ := c.Has(tc.digest); ok {
						t.Fatal("bad content stored under its claimed digest")
					}
				}
				ents, _ := os.ReadDir(filepath.Join(c.Dir, "blobs", "sha256"))
				if len(ents) != 0 {
					t.Fatalf("left behind: %v", ents)
				}
				return
			}
			if err != nil || n != int64(len(content)) {
				t.Fatalf("Put = %d, %v; want %d", n, err, len(content))
			}
			if ok, size := c.Has(good); !ok || size != int64(len(content)) {
				t.Fatalf("Has = %v, %d", ok, size)
			}
			// Again: already there, nothing written.
			if n, err := c.Put(context.Background(), tc.digest, tc.size, bytes.NewReader(content)); err != nil || n != 0 {
				t.Fatalf("second Put = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

func TestPutCancelled(t *testing.T) {
	c := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := []byte("x")
	if _, err := c.Put(ctx, verify.Digest(b), 1, bytes.NewReader(b)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context = %v", err)
	}
	if ok, _ := c.Has(verify.Digest(b)); ok {
		t.Fatal("stored although cancelled")
	}
}

func TestPutBytesOpenReadBlob(t *testing.T) {
	c := open(t)
	b := []byte(`{"hello":"world"}`)
	d, err := c.PutBytes(context.Background(), b)
	if err != nil || d != verify.Digest(b) {
		t.Fatalf("PutBytes = %s, %v", d, err)
	}
	got, err := c.ReadBlob(d)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("ReadBlob = %q, %v", got, err)
	}
	r, size, err := c.Open(d)
	if err != nil || size != int64(len(b)) {
		t.Fatalf("Open = %d, %v", size, err)
	}
	all, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(all, b) {
		t.Fatalf("read %q, %v", all, err)
	}

	// Damage under the blob's name is found on reading.
	if err := os.WriteFile(c.BlobPath(d), []byte(`{"hello":"WORLD"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadBlob(d); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("ReadBlob of damaged blob = %v, want a digest mismatch", err)
	}

	for _, bad := range []string{"", "sha256:zz", "../../etc/passwd"} {
		if _, _, err := c.Open(bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
		if ok, _ := c.Has(bad); ok {
			t.Errorf("Has(%q) = true", bad)
		}
		if err := c.Remove(bad); err == nil {
			t.Errorf("Remove(%q) succeeded", bad)
		}
	}
	missing := verify.Digest([]byte("absent"))
	if _, _, err := c.Open(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of an absent blob = %v, want fs.ErrNotExist", err)
	}
}

func TestRemove(t *testing.T) {
	c := open(t)
	d, err := c.PutBytes(context.Background(), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(d); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Has(d); ok {
		t.Fatal("still there after Remove")
	}
	if err := c.Remove(d); err != nil {
		t.Fatalf("removing a blob already gone: %v", err)
	}
}

func TestTagUntagLookup(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	m1, _ := c.PutBytes(ctx, []byte(`{"m":1}`))
	m2, _ := c.PutBytes(ctx, []byte(`{"m":2}`))
	desc := func(d string) manifest.Descriptor {
		return manifest.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: d, Size: 7}
	}

	if err := c.Tag("b:1", desc(m1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Tag("a:1", desc(m2)); err != nil {
		t.Fatal(err)
	}
	if err := c.Tag("b:1", desc(m2)); err != nil { // renames: replaces
		t.Fatal(err)
	}
	if err := c.Tag("a:1", desc(m2)); err != nil { // already so
		t.Fatal(err)
	}
	absent := verify.Digest([]byte("absent"))
	if err := c.Tag("c:1", desc(absent)); err == nil || !strings.Contains(err.Error(), "not in the cache") {
		t.Fatalf("tagging an absent manifest = %v", err)
	}
	refs, err := c.Refs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range refs {
		names = append(names, r.Annotations[RefAnnotation]+"="+r.Digest)
	}
	if want := []string{"a:1=" + m2, "b:1=" + m2}; fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("refs %v, want %v (sorted, one entry per name)", names, want)
	}
	if d, ok, err := c.Lookup("b:1"); err != nil || !ok || d.Digest != m2 || d.MediaType != desc(m2).MediaType {
		t.Fatalf("Lookup b:1 = %+v %v %v", d, ok, err)
	}
	if _, ok, err := c.Lookup("c:1"); err != nil || ok {
		t.Fatalf("Lookup of an unknown name = %v %v", ok, err)
	}
	if err := c.Untag("a:1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Lookup("a:1"); ok {
		t.Fatal("a:1 still named after Untag")
	}
	if _, ok, _ := c.Lookup("b:1"); !ok {
		t.Fatal("Untag a:1 removed b:1")
	}
	if err := c.Untag("never"); err != nil {
		t.Fatalf("Untag of an unknown name: %v", err)
	}
	// Other tools read index.json: it stays an OCI image index.
	b, err := os.ReadFile(filepath.Join(c.Dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil || idx.SchemaVersion != 2 || idx.MediaType != "application/vnd.oci.image.index.v1+json" || len(idx.Manifests) != 1 {
		t.Fatalf("index.json = %s (%v)", b, err)
	}
}

func TestDamagedIndexJSON(t *testing.T) {
	c := open(t)
	if err := os.WriteFile(filepath.Join(c.Dir, "index.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refs(); err == nil || !strings.Contains(err.Error(), "index.json") {
		t.Fatalf("Refs over a damaged index.json = %v", err)
	}
	d, _ := c.PutBytes(context.Background(), []byte("m"))
	if err := c.Tag("x", manifest.Descriptor{Digest: d}); err == nil {
		t.Fatal("Tag rewrote a damaged index.json")
	}
}

// TestConcurrentTag: index.json is a read-modify-write; several writers
// (goroutines here, processes in real runs) lose no entry and leave it
// valid JSON.
func TestConcurrentTag(t *testing.T) {
	dir := t.TempDir()
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := Open(dir) // each its own handle, as separate processes have
			if err != nil {
				errs <- err
				return
			}
			for i := 0; i < each; i++ {
				d, err := c.PutBytes(context.Background(), []byte(fmt.Sprintf("manifest %d %d", w, i)))
				if err == nil {
					err = c.Tag(fmt.Sprintf("img-%d:%d", w, i), manifest.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: d})
				}
				if err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json is not valid JSON after concurrent tags: %v", err)
	}
	if len(idx.Manifests) != writers*each {
		t.Fatalf("%d entries, want %d: concurrent tags were lost", len(idx.Manifests), writers*each)
	}
}

// N13: a named pipe in a layout, as a blob or as its index.json, is refused
// at once (ErrNotRegular for a blob), never waited on.
func TestN13NamedPipesAreRefused(t *testing.T) {
	c := open(t)
	d, err := c.PutBytes(context.Background(), []byte("layer"))
	if err != nil {
		t.Fatal(err)
	}
	fifo := func(p string) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fifo(c.BlobPath(d))
	done := make(chan error, 2)
	go func() { _, _, err := c.Open(d); done <- err }()
	go func() { fifo(c.indexPath()); _, _, err := c.Lookup("x"); done <- err }()
	for range 2 {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "is a named pipe, not a regular file; fix: ") {
				t.Fatalf("got %v, want a named pipe refused", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a named pipe is waited on")
		}
	}
	if _, _, err := c.Open(d); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("blob: %v, want ErrNotRegular", err)
	}
}
