package copier

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/retry"
)

// pushPlatforms pushes an index of one image per arch to host/repo:1.
func pushPlatforms(t *testing.T, host, repo string, archs ...string) (v1.Hash, map[string]v1.Hash) {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	children := map[string]v1.Hash{}
	for _, a := range archs {
		img, err := random.Image(1024, 2)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: a}}})
		children[a], _ = img.Digest()
	}
	ref, _ := name.ParseReference(host + "/" + repo + ":1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	return d, children
}

// TestI25SparseCopy: a sparse copy writes the index unchanged (same
// digest) with only the selected platforms' manifests; the cache walks of
// a sparse record (its blobs for an archive, the damage check before a
// fetch) take the absent platforms as absent by design, a whole walk of
// the same image as missing.
func TestI25SparseCopy(t *testing.T) {
	ctx := context.Background()
	src := memRegistry(t)
	idx, children := pushPlatforms(t, src, "team/multi", "amd64", "arm64", "s390x")
	c := registry.New(registry.Options{TLSVerify: true})
	cch, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.Repository(src + "/team/multi")
	sel := manifest.Select([]string{"linux/arm64"})
	res, err := New(Options{}).CopySparse(ctx, &registry.Repo{Client: c, Name: r}, idx.String(), cch, src+"/team/multi:1", sel)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != idx.String() {
		t.Errorf("copied %s, want the source index %s", res.Digest, idx)
	}
	if ok, _ := cch.Has(idx.String()); !ok {
		t.Fatal("the index is not cached")
	}
	for arch, d := range children {
		if ok, _ := cch.Has(d.String()); ok != (arch == "arm64") {
			t.Errorf("%s manifest cached: %v", arch, ok)
		}
	}
	blobs, err := cch.SparseBlobs(idx.String(), string(types.OCIImageIndex), sel)
	if err != nil {
		t.Fatalf("sparse walk: %v", err)
	}
	if len(blobs) != 1+1+1+2 { // index, arm64 manifest, config, 2 layers
		t.Errorf("sparse walk lists %d blobs, want 5", len(blobs))
	}
	var missing *cache.MissingError
	if _, err := cch.ImageBlobs(idx.String(), string(types.OCIImageIndex)); !errors.As(err, &missing) {
		t.Errorf("whole walk of a sparse copy: %v, want a missing manifest", err)
	}
	if removed, err := cch.DropDamaged(idx.String(), string(types.OCIImageIndex), 0, sel, nil); err != nil || len(removed) != 0 {
		t.Errorf("damage check of a sparse record removed %v (%v), want nothing", removed, err)
	}
	if removed, _ := cch.DropDamaged(idx.String(), string(types.OCIImageIndex), 0, nil, nil); len(removed) != 1 || removed[0] != idx.String() {
		t.Errorf("damage check of a whole record removed %v, want the index (its platforms are absent)", removed)
	}
}

// TestI25SparseRefused: a destination answering MANIFEST_BLOB_UNKNOWN to a
// sparse index (distribution 2.x) fails it, after the retries a raced
// write gets, with a *SparseRefusedError naming the registry setting and
// --no-sparse; the same answer to a whole copy stays the raced write.
func TestI25SparseRefused(t *testing.T) {
	ctx := context.Background()
	src, mem := memRegistry(t), memRegistry(t)
	idx, _ := pushPlatforms(t, src, "team/multi", "amd64", "arm64")
	up, _ := url.Parse("http://" + mem)
	proxy := httputil.NewSingleHostReverseProxy(up)
	var refused atomic.Int32
	dst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/1") {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(dst.Close)
	host := strings.TrimPrefix(dst.URL, "http://")
	c := registry.New(registry.Options{TLSVerify: true, Retry: retry.Policy{Attempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond}})
	sr, _ := c.Repository(src + "/team/multi")
	for _, tc := range []struct {
		name   string
		sel    manifest.Selection
		sparse bool
	}{
		{"sparse", manifest.Select([]string{"linux/arm64"}), true},
		{"whole", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused.Store(0)
			dr, _ := c.Repository(host + "/" + tc.name + "/multi")
			_, err := New(Options{}).CopySparse(ctx, &registry.Repo{Client: c, Name: sr}, idx.String(), &registry.Repo{Client: c, Name: dr}, "1", tc.sel)
			if err == nil {
				t.Fatal("the refused index was copied")
			}
			if refused.Load() != 3 {
				t.Errorf("the index PUT was tried %d times, want 3 (the retries)", refused.Load())
			}
			var se *SparseRefusedError
			if errors.As(err, &se) != tc.sparse {
				t.Fatalf("sparse refusal %v for %v", !tc.sparse, err)
			}
			if !tc.sparse {
				return
			}
			for _, w := range []string{"validation.manifests.indexes.platforms: none", "--no-sparse", "; fix: "} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			if !errors.Is(err, registry.ErrConcurrentWrite) {
				t.Errorf("the registry's answer is not kept: %v", err)
			}
		})
	}
}
