package copier

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// memRegistry is go-containerregistry's in-memory registry: fine for fast
// unit tests; the e2e tests use the real distribution registry.
func memRegistry(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// pushImages pushes two images sharing a base layer and a 2-platform index.
func pushImages(t *testing.T, host string) (a, b, idx v1.Hash) {
	t.Helper()
	base, err := random.Layer(4096, "application/vnd.oci.image.layer.v1.tar+gzip")
	if err != nil {
		t.Fatal(err)
	}
	mk := func() v1.Image {
		own, err := random.Layer(2048, "application/vnd.oci.image.layer.v1.tar+gzip")
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(empty.Image, base, own)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	put := func(repo string, img v1.Image) v1.Hash {
		ref, _ := name.ParseReference(host + "/" + repo)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d
	}
	a = put("team/a:1", mk())
	b = put("team/b:1", mk())
	ri, err := random.Index(1024, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host + "/team/multi:1")
	if err := remote.WriteIndex(ref, ri); err != nil {
		t.Fatal(err)
	}
	idx, _ = ri.Digest()
	return a, b, idx
}

func TestCopyRegistryToRegistryDedupesAndSkips(t *testing.T) {
	ctx := context.Background()
	srcHost, dstHost := memRegistry(t), memRegistry(t)
	a, b, idx := pushImages(t, srcHost)
	c := registry.New(registry.Options{TLSVerify: true})
	repo := func(s string) name.Repository {
		r, err := c.Repository(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	eng := New(Options{BlobWorkers: 4})
	for _, x := range []struct {
		repo string
		d    v1.Hash
	}{{"team/a", a}, {"team/b", b}, {"team/multi", idx}} {
		src := &registry.Repo{Client: c, Name: repo(srcHost + "/" + x.repo)}
		dst := &registry.Repo{Client: c, Name: repo(dstHost + "/m/" + x.repo)}
		if _, err := eng.Copy(ctx, src, x.d.String(), dst, "1"); err != nil {
			t.Fatalf("copy %s: %v", x.repo, err)
		}
	}
	// a and b: config + 2 layers each, sharing base: 5 distinct blobs; b's base mounted.
	// The random index: 2 images x (config + 2 layers) = 6 blobs.
	if got := eng.Stats.BlobsCopied.Load(); got != 11 {
		t.Errorf("blobs copied = %d, want 11", got)
	}
	if got := eng.Stats.BlobsMounted.Load() + eng.Stats.BlobsExisting.Load(); got != 1 {
		t.Errorf("shared base blob: mounted+existing = %d, want 1", got)
	}
	for _, x := range []struct {
		repo string
		d    v1.Hash
	}{{"team/a", a}, {"team/b", b}, {"team/multi", idx}} {
		ref, _ := name.ParseReference(dstHost + "/m/" + x.repo + ":1")
		desc, err := remote.Head(ref)
		if err != nil || desc.Digest != x.d {
			t.Fatalf("%s at mirror: %v %v, want %s", x.repo, desc, err, x.d)
		}
	}

	// Second run: everything is there, nothing moves.
	eng2 := New(Options{})
	for _, x := range []struct {
		repo string
		d    v1.Hash
	}{{"team/a", a}, {"team/multi", idx}} {
		src := &registry.Repo{Client: c, Name: repo(srcHost + "/" + x.repo)}
		dst := &registry.Repo{Client: c, Name: repo(dstHost + "/m/" + x.repo)}
		res, err := eng2.Copy(ctx, src, x.d.String(), dst, "1")
		if err != nil || !res.UpToDate {
			t.Fatalf("recopy %s: %+v %v", x.repo, res, err)
		}
	}
	if eng2.Stats.BytesMoved.Load() != 0 {
		t.Fatalf("second run moved %d bytes", eng2.Stats.BytesMoved.Load())
	}
}

func TestCopyToCacheAndBack(t *testing.T) {
	ctx := context.Background()
	srcHost, dstHost := memRegistry(t), memRegistry(t)
	a, _, idx := pushImages(t, srcHost)
	c := registry.New(registry.Options{TLSVerify: true})
	cch, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Options{})
	for _, x := range []struct {
		repo string
		d    v1.Hash
	}{{"team/a", a}, {"team/multi", idx}} {
		r, _ := c.Repository(srcHost + "/" + x.repo)
		ref := srcHost + "/" + x.repo + ":1"
		if _, err := eng.Copy(ctx, &registry.Repo{Client: c, Name: r}, x.d.String(), cch, ref); err != nil {
			t.Fatal(err)
		}
		if d, ok, err := cch.Lookup(ref); err != nil || !ok || d.Digest != x.d.String() {
			t.Fatalf("index.json entry for %s: %+v %v %v", ref, d, ok, err)
		}
	}
	moved := eng.Stats.BytesMoved.Load()
	if moved == 0 {
		t.Fatal("nothing cached")
	}
	// From the cache to a registry.
	for _, x := range []struct {
		repo string
		d    v1.Hash
	}{{"team/a", a}, {"team/multi", idx}} {
		r, _ := c.Repository(dstHost + "/" + x.repo)
		if _, err := eng.Copy(ctx, cch, x.d.String(), &registry.Repo{Client: c, Name: r}, "1"); err != nil {
			t.Fatal(err)
		}
	}
	if eng.Stats.BytesMoved.Load() != 2*moved {
		t.Errorf("pushing from the cache moved %d bytes, want %d", eng.Stats.BytesMoved.Load()-moved, moved)
	}
}

func TestCopyDetectsCorruptCacheBlob(t *testing.T) {
	ctx := context.Background()
	srcHost, dstHost := memRegistry(t), memRegistry(t)
	a, _, _ := pushImages(t, srcHost)
	c := registry.New(registry.Options{TLSVerify: true})
	cch, _ := cache.Open(t.TempDir())
	eng := New(Options{})
	r, _ := c.Repository(srcHost + "/team/a")
	if _, err := eng.Copy(ctx, &registry.Repo{Client: c, Name: r}, a.String(), cch, "x"); err != nil {
		t.Fatal(err)
	}
	img, _ := remote.Image(mustRef(t, srcHost+"/team/a:1"))
	layers, _ := img.Layers()
	ld, _ := layers[1].Digest()
	corrupt(t, cch.BlobPath(ld.String()))
	dr, _ := c.Repository(dstHost + "/team/a")
	_, err := eng.Copy(ctx, cch, a.String(), &registry.Repo{Client: c, Name: dr}, "1")
	if err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Fatalf("err = %v, want a digest mismatch", err)
	}
	if _, err := remote.Head(mustRef(t, dstHost+"/team/a:1")); err == nil {
		t.Fatal("image with a corrupt layer reached the mirror")
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// corrupt flips one byte of a file in place.
func corrupt(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
