package catalog

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/ocm-mirror/ocm/internal/catalogtest"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/imagefs"
	"github.com/ocm-mirror/ocm/lib/manifest"
)

// repeat streams s n times.
type repeat struct {
	s   []byte
	n   int64
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	c := copy(p, r.s[r.off:])
	r.off += c
	if r.off == len(r.s) {
		r.off, r.n = 0, r.n-1
	}
	return c, nil
}

// catalogImage writes into a cache a catalog image whose one layer holds
// configs/<name> of size bytes from body (gzipped as it streams), and
// returns the cache and the image's digest.
func catalogImage(t *testing.T, name string, size int64, body io.Reader) (*cache.Cache, string) {
	t.Helper()
	ctx := context.Background()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "configs/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
	if _, err := io.Copy(tw, body); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	zw.Close()
	ld, err := c.PutBytes(ctx, gz.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Labels": map[string]string{ConfigsLabel: "/configs"}}, "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}})
	cd, _ := c.PutBytes(ctx, cfg)
	mb, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": manifest.OCIManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": gz.Len()}}})
	md, err := c.PutBytes(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	return c, md
}

// TestI24CatalogRatioBomb: 1 GiB of declarative config in a layer of about
// a megabyte fails once the layer passes the ratio, with memory bounded by
// what was read by then, and the error names the setting that raises it.
func TestI24CatalogRatioBomb(t *testing.T) {
	doc := []byte(`{"schema":"olm.bundle","name":"p.v1","package":"p","image":"x","properties":[{"type":"olm.package","value":{"packageName":"p","version":"1.0.0"}}]}` + "\n")
	n := int64(1<<30) / int64(len(doc))
	c, digest := catalogImage(t, "p/catalog.json", n*int64(len(doc)), &repeat{s: doc, n: n})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Read(context.Background(), c, digest)
	runtime.ReadMemStats(&after)
	var re *imagefs.RatioError
	if !errors.As(err, &re) || !errors.Is(err, capread.ErrTooLarge) {
		t.Fatalf("err = %v, want a decompression ratio error", err)
	}
	if re.Out > 2*imagefs.RatioFloor || !strings.Contains(err.Error(), RatioEnv) {
		t.Errorf("stopped after %d bytes (want about %d), or the error does not name %s: %v", re.Out, imagefs.RatioFloor, RatioEnv, err)
	}
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 256<<20 {
		t.Errorf("heap grew %d MiB reading the bomb", grew>>20)
	}
}

// TestI24CatalogDocumentCap: one document larger than the document cap
// fails naming the setting; raised, it reads.
func TestI24CatalogDocumentCap(t *testing.T) {
	t.Setenv(RatioEnv, "100000") // this one compresses far better than any catalog
	head := `{"schema":"olm.package","name":"p","description":"`
	size := int64(DefaultLimits.Document) + 1<<20
	body := io.MultiReader(strings.NewReader(head), &repeat{s: []byte("a"), n: size - int64(len(head)) - 2}, strings.NewReader(`"}`))
	for _, ext := range []string{"json", "yaml"} {
		t.Run(ext, func(t *testing.T) {
			var b io.Reader = body
			if ext == "yaml" {
				yhead := "schema: olm.package\nname: p\ndescription: "
				b = io.MultiReader(strings.NewReader(yhead), &repeat{s: []byte("a"), n: size - int64(len(yhead)) - 1}, strings.NewReader("\n"))
			}
			c, digest := catalogImage(t, "p/catalog."+ext, size, b)
			t.Setenv(DocumentEnv, "")
			_, err := Read(context.Background(), c, digest)
			var tl *capread.TooLargeError
			if !errors.As(err, &tl) || !strings.Contains(err.Error(), DocumentEnv) || !strings.Contains(err.Error(), "document of catalog file configs/p/catalog."+ext) {
				t.Fatalf("err = %v, want the document cap naming %s", err, DocumentEnv)
			}
			t.Setenv(DocumentEnv, "134217728")
			cat, err := Read(context.Background(), c, digest)
			if err != nil || cat.FBC.Packages["p"] == nil {
				t.Fatalf("with %s raised: %v", DocumentEnv, err)
			}
		})
	}
}

// filesImage writes into a cache a catalog image of one layer holding files.
func filesImage(t *testing.T, files map[string][]byte) (*cache.Cache, string) {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, n := range keys(files) {
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[n]))})
		tw.Write(files[n])
	}
	tw.Close()
	return catalogImageTar(t, tb.Bytes())
}

func catalogImageTar(t *testing.T, tarball []byte) (*cache.Cache, string) {
	t.Helper()
	ctx := context.Background()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarball)
	zw.Close()
	ld, _ := c.PutBytes(ctx, gz.Bytes())
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Labels": map[string]string{ConfigsLabel: "/configs"}}, "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}})
	cd, _ := c.PutBytes(ctx, cfg)
	mb, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": manifest.OCIManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": gz.Len()}}})
	md, err := c.PutBytes(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	return c, md
}

// TestI24StreamedRebuildIsParsedRebuild: the catalog read as a stream,
// keeping only the packages asked for, selects and renders byte for byte
// what the whole catalog parsed in memory does (JSON and YAML files).
func TestI24StreamedRebuildIsParsedRebuild(t *testing.T) {
	ctx := context.Background()
	files := catalogtest.Files("configs", catalogtest.FakeImages)
	whole, err := Parse(files)
	if err != nil {
		t.Fatal(err)
	}
	c, digest := filesImage(t, files)
	for _, f := range []Filter{
		{},
		{Full: true},
		{Packages: []PackageFilter{{Name: "aqua", Bundles: []string{"aqua.v1.0.0", "aqua.v1.4.0"}}}},
		{Packages: []PackageFilter{{Name: "gamma", MinVersion: "0.1.0"}, {Name: "delta", MaxVersion: "2.1.0"}}},
		{Packages: []PackageFilter{{Name: "epsilon", DefaultChannel: "v2", Channels: []ChannelFilter{{Name: "v2"}}}}},
	} {
		var names []string
		for _, p := range f.Packages {
			names = append(names, p.Name)
		}
		img, err := ReadPackages(ctx, c, digest, names)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) > 0 && len(img.FBC.Packages) != len(names) {
			t.Errorf("%v: %d packages kept, want %d", names, len(img.FBC.Packages), len(names))
		}
		sel, err := img.FBC.Select(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := whole.Select(f)
		if err != nil {
			t.Fatal(err)
		}
		wantFiles, _ := whole.Render(want, "configs")
		spool, err := os.CreateTemp(t.TempDir(), "spool")
		if err != nil {
			t.Fatal(err)
		}
		defer spool.Close()
		if err := img.loadDocs(ctx, c, sel, spool); err != nil {
			t.Fatal(err)
		}
		got, err := img.FBC.Render(sel, "configs")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(wantFiles) {
			t.Fatalf("%+v: %d files, want %d", f, len(got), len(wantFiles))
		}
		for n, b := range wantFiles {
			if !bytes.Equal(got[n], b) {
				t.Errorf("%+v: %s differs:\n%s\nwant\n%s", f, n, got[n], b)
			}
		}
	}
	// A package not kept is still suggested.
	img, _ := ReadPackages(ctx, c, digest, []string{"aqua"})
	if _, err := img.FBC.Select(Filter{Packages: []PackageFilter{{Name: "aqua"}, {Name: "gama"}}}); err == nil || !strings.Contains(err.Error(), "gamma") {
		t.Errorf("err = %v, want gamma suggested", err)
	}
}
