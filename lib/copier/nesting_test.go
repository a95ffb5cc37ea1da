package copier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// chainSource serves a chain of indexes, each listing the next one.
type chainSource struct {
	bodies map[string][]byte
	reads  atomic.Int64
}

func (s *chainSource) String() string { return "chain" }

func (s *chainSource) Manifest(ctx context.Context, digest string) ([]byte, string, error) {
	s.reads.Add(1)
	b, ok := s.bodies[digest]
	if !ok {
		return nil, "", fmt.Errorf("no manifest %s", digest)
	}
	return b, manifest.Sniff(b), nil
}

func (s *chainSource) Blob(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	return nil, errors.New("no blobs here")
}

// F15: a 2000-deep chain of indexes took 95 s to walk; now the copier stops
// at manifest.MaxNesting, having read only that many manifests.
func TestF15DeepIndexChainStopsEarly(t *testing.T) {
	const depth = 2000
	src := &chainSource{bodies: map[string][]byte{}}
	// the bottom: an image manifest
	next := []byte(`{"schemaVersion":2,"mediaType":"` + manifest.OCIManifest + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":2},"layers":[]}`)
	nextMT := manifest.OCIManifest
	for i := 0; i < depth; i++ {
		d := verify.Digest(next)
		src.bodies[d] = next
		next = []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%d}]}`, manifest.OCIIndex, nextMT, d, len(src.bodies[d])))
		nextMT = manifest.OCIIndex
	}
	top := verify.Digest(next)
	src.bodies[top] = next
	cch, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{}).Copy(context.Background(), src, top, cch, "x/chain:1")
	if !errors.Is(err, manifest.ErrTooDeep) {
		t.Fatalf("err = %v, want ErrTooDeep", err)
	}
	if n := src.reads.Load(); n > manifest.MaxNesting+2 {
		t.Fatalf("%d manifests read before giving up, want at most %d", n, manifest.MaxNesting+2)
	}
}
