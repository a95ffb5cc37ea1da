package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ocm-mirror/ocm/lib/cache"
)

// put writes a random base image of the given manifest kind into c.
func put(t *testing.T, c *cache.Cache, mt types.MediaType) string {
	t.Helper()
	img, err := random.Image(64, 2)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, mt)
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "s390x"
	cf.History = []v1.History{{CreatedBy: "base one"}, {CreatedBy: "base two"}}
	cf.Config = v1.Config{Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "true"}, User: "1001", Labels: map[string]string{"a": "b"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	d, err := Write(context.Background(), c, img)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

// TestApplyKeepsTheBase: the built image is the base plus one layer (of the
// base manifest's kind), one history entry and the edited command; the
// rest of the config, history, os and architecture are the base's.
func TestApplyKeepsTheBase(t *testing.T) {
	for _, tc := range []struct {
		manifest, layer types.MediaType
	}{
		{types.OCIManifestSchema1, types.OCILayer},
		{types.DockerManifestSchema2, types.DockerLayer},
	} {
		t.Run(string(tc.manifest), func(t *testing.T) {
			ctx := context.Background()
			c, err := cache.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			base, err := Image(c, put(t, c, tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			layer, err := Layer([]Entry{
				{Header: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}},
				{Header: tar.Header{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o644}, Body: []byte("x")},
			})
			if err != nil {
				t.Fatal(err)
			}
			img, err := Apply(base, Change{Layer: layer, CreatedBy: "added", Config: func(cfg *v1.Config) error {
				cfg.Cmd, cfg.Entrypoint = []string{"run"}, nil
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			d, err := Write(ctx, c, img)
			if err != nil {
				t.Fatal(err)
			}
			if d.MediaType != string(tc.manifest) {
				t.Errorf("manifest media type %s, want %s", d.MediaType, tc.manifest)
			}
			got, err := Image(c, d.Digest) // everything it names is in the cache
			if err != nil {
				t.Fatal(err)
			}
			m, err := got.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Layers) != 3 || m.Layers[2].MediaType != tc.layer {
				t.Fatalf("layers %+v, want 3 with the last %s", m.Layers, tc.layer)
			}
			cf, err := got.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			ld, _ := layer.DiffID()
			if len(cf.RootFS.DiffIDs) != 3 || cf.RootFS.DiffIDs[2] != ld {
				t.Errorf("diff IDs %v, want 3 ending in %s", cf.RootFS.DiffIDs, ld)
			}
			var hist []string
			for _, h := range cf.History {
				hist = append(hist, h.CreatedBy)
			}
			if !reflect.DeepEqual(hist, []string{"base one", "base two", "added"}) || !cf.History[2].Created.Equal(Created.Time) {
				t.Errorf("history %+v", cf.History)
			}
			want := v1.Config{Cmd: []string{"run"}, User: "1001", Labels: map[string]string{"a": "b"}}
			if cf.OS != "linux" || cf.Architecture != "s390x" || !reflect.DeepEqual(cf.Config, want) {
				t.Errorf("config %s/%s %+v, want linux/s390x %+v", cf.OS, cf.Architecture, cf.Config, want)
			}
			for _, l := range m.Layers {
				if ok, _ := c.Has(l.Digest.String()); !ok {
					t.Errorf("layer %s not in the cache", l.Digest)
				}
			}
		})
	}
}

// TestRebuildIndex: every manifest of an index is rebuilt; the index keeps
// its entries' order, platforms and annotations, and its own annotations.
func TestRebuildIndex(t *testing.T) {
	ctx := context.Background()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plats := []v1.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "amd64"}}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Annotations: map[string]string{"index": "kept"}}
	for i, p := range plats {
		d := put(t, c, types.OCIManifestSchema1)
		h, _ := v1.NewHash(d)
		raw, _ := c.ReadBlob(d)
		idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: int64(len(raw)),
			Platform: &plats[i], Annotations: map[string]string{"entry": p.Architecture}})
	}
	ib, _ := json.Marshal(idx)
	id, err := c.PutBytes(ctx, ib)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := Layer([]Entry{{Header: tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644}, Body: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	nd, err := Rebuild(ctx, c, id, func(base v1.Image) (v1.Image, error) {
		return Apply(base, Change{Layer: layer, CreatedBy: "added"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if nd.MediaType != string(types.OCIImageIndex) || nd.Digest == id {
		t.Fatalf("rebuilt index %+v", nd)
	}
	nb, err := c.ReadBlob(nd.Digest)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v1.ParseIndexManifest(bytes.NewReader(nb))
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations["index"] != "kept" || len(got.Manifests) != 2 {
		t.Fatalf("rebuilt index %s", nb)
	}
	for i, e := range got.Manifests {
		if e.Platform.Architecture != plats[i].Architecture || e.Annotations["entry"] != plats[i].Architecture || e.Digest == idx.Manifests[i].Digest {
			t.Errorf("entry %d: %+v, want %s rebuilt", i, e, plats[i].Architecture)
		}
		img, err := Image(c, e.Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		if m, err := img.Manifest(); err != nil || len(m.Layers) != 3 || e.Size != sizeOf(t, c, e.Digest.String()) {
			t.Errorf("entry %d: manifest %+v (%v)", i, m, err)
		}
	}
}

func sizeOf(t *testing.T, c *cache.Cache, d string) int64 {
	t.Helper()
	_, n := c.Has(d)
	return n
}
