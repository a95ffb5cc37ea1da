package cli

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/shard"
)

// TestI27ShardDeepIndexStopsAtGuard: the shard grouping lists an image's
// blobs with the one walk (cache.Blobs), so an index chain deeper than
// manifest.MaxNesting stops at the guard, as it does for copy and garbage
// collection, instead of being followed to its end.
func TestI27ShardDeepIndexStopsAtGuard(t *testing.T) {
	ctx := context.Background()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(v any, mt string) manifest.Descriptor {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.PutBytes(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return manifest.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
	}
	cfg := put(map[string]string{"architecture": "amd64"}, "application/vnd.oci.image.config.v1+json")
	img := put(manifest.Manifest{MediaType: manifest.OCIManifest, Config: &cfg, Layers: []manifest.Descriptor{}}, manifest.OCIManifest)
	chain := func(depth int) manifest.Descriptor {
		d := img
		for i := 0; i < depth; i++ {
			d = put(struct {
				SchemaVersion int                   `json:"schemaVersion"`
				MediaType     string                `json:"mediaType"`
				Manifests     []manifest.Descriptor `json:"manifests"`
			}{2, manifest.OCIIndex, []manifest.Descriptor{d}}, manifest.OCIIndex)
		}
		return d
	}
	for _, tc := range []struct {
		name  string
		depth int
		deep  bool
	}{
		{"at the guard", manifest.MaxNesting, false},
		{"past the guard", manifest.MaxNesting + 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := chain(tc.depth)
			recs := []*record.Record{{Origin: record.OriginAdditional, Source: "example.com/deep:1", Digest: top.Digest, MediaType: top.MediaType, Destination: "deep:1"}}
			_, err := shard.Assign(ctx, recs, 2, ShardBlobs(nil, c), 1)
			if got := errors.Is(err, manifest.ErrTooDeep); got != tc.deep {
				t.Fatalf("depth %d: err = %v, want ErrTooDeep %v", tc.depth, err, tc.deep)
			}
		})
	}
}
