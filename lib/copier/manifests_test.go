package copier

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/ocm-mirror/ocm/lib/registry"
)

// TestN14EachManifestWrittenOncePerRepository: copies of one index under
// several tags into one repository, all at once, write each platform
// manifest once and the index once per tag (never twice at the same
// moment: distribution answers 400 DIGEST_INVALID / MANIFEST_BLOB_UNKNOWN
// now and then when one manifest is written twice at once).
func TestN14EachManifestWrittenOncePerRepository(t *testing.T) {
	for _, tags := range [][]string{{"1", "latest"}, {"1", "2", "3", "latest"}} {
		t.Run(strings.Join(tags, ","), func(t *testing.T) {
			src, dst := startCountingRegistry(t), startCountingRegistry(t)
			idx, err := random.Index(256, 1, 3)
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := name.ParseReference(src.Host + "/team/multi:1")
			if err := remote.WriteIndex(ref, idx); err != nil {
				t.Fatal(err)
			}
			digest, _ := idx.Digest()
			im, _ := idx.IndexManifest()
			// Slow manifest writes: every copy is in flight before the
			// first platform manifest lands.
			dst.start(func(r *http.Request) bool {
				if isManifestPUT(r) {
					time.Sleep(50 * time.Millisecond)
				}
				return false
			}, false)
			c := registry.New(registry.Options{TLSVerify: true})
			srcRepo, _ := c.Repository(src.Host + "/team/multi")
			dstRepo, _ := c.Repository(dst.Host + "/mirror/multi")
			e := New(Options{})
			var g errgroup.Group
			for _, tag := range tags {
				g.Go(func() error {
					_, err := e.Copy(context.Background(), &registry.Repo{Client: c, Name: srcRepo}, digest.String(), &registry.Repo{Client: c, Name: dstRepo}, tag)
					return err
				})
			}
			if err := g.Wait(); err != nil {
				t.Fatal(err)
			}
			got, _ := dst.snapshot()
			for _, m := range im.Manifests {
				if n := got["PUT /v2/mirror/multi/manifests/"+m.Digest.String()]; n != 1 {
					t.Errorf("platform manifest %s written %d times, want 1", m.Digest, n)
				}
			}
			for _, tag := range tags {
				if n := got["PUT /v2/mirror/multi/manifests/"+tag]; n != 1 {
					t.Errorf("tag %s written %d times, want 1", tag, n)
				}
			}
			if n := got["PUT /v2/mirror/multi/manifests/"+digest.String()]; n != 0 {
				t.Errorf("index written %d times by digest, want 0 (its tags carry it)", n)
			}
			if got, want := e.Stats.Manifests.Load(), int64(len(im.Manifests)+len(tags)); got != want {
				t.Errorf("%d manifests counted, want %d", got, want)
			}
		})
	}
}
