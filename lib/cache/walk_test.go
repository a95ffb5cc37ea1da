package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"

	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// content builds images in a cache.
type content struct {
	t *testing.T
	c *Cache
}

func (x content) blob(s string) manifest.Descriptor {
	x.t.Helper()
	d, err := x.c.PutBytes(context.Background(), []byte(s))
	if err != nil {
		x.t.Fatal(err)
	}
	return manifest.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: d, Size: int64(len(s))}
}

// absentBlob describes a blob the cache does not hold.
func absentBlob(s string) manifest.Descriptor {
	return manifest.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: verify.Digest([]byte(s)), Size: int64(len(s))}
}

func (x content) put(v any, mt string) manifest.Descriptor {
	x.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		x.t.Fatal(err)
	}
	d := x.blob(string(b))
	d.MediaType = mt
	return d
}

func (x content) image(config manifest.Descriptor, layers ...manifest.Descriptor) manifest.Descriptor {
	x.t.Helper()
	config.MediaType = "application/vnd.oci.image.config.v1+json"
	return x.put(manifest.Manifest{MediaType: manifest.OCIManifest, Config: &config, Layers: layers}, manifest.OCIManifest)
}

func (x content) index(children ...manifest.Descriptor) manifest.Descriptor {
	x.t.Helper()
	return x.put(struct {
		SchemaVersion int                   `json:"schemaVersion"`
		MediaType     string                `json:"mediaType"`
		Manifests     []manifest.Descriptor `json:"manifests"`
	}{2, manifest.OCIIndex, children}, manifest.OCIIndex)
}

func digests(ds []manifest.Descriptor) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	return out
}

func TestImageBlobs(t *testing.T) {
	c := open(t)
	x := content{t, c}
	base, own1, own2 := x.blob("base layer"), x.blob("own layer 1"), x.blob("own layer 2")
	cfg1, cfg2 := x.blob(`{"c":1}`), x.blob(`{"c":2}`)
	img1 := x.image(cfg1, base, own1)
	img2 := x.image(cfg2, base, own2)
	idx := x.index(img1, img2)
	foreign := manifest.Descriptor{MediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Digest: verify.Digest([]byte("windows")), Size: 7, URLs: []string{"https://example.com/w"}}
	withForeign := x.image(cfg1, foreign, own1)
	uncachedLayer := x.image(cfg1, absentBlob("not fetched"))
	missingChild := x.index(img1, absentBlob("child manifest"))
	// A chain of indexes deeper than manifest.MaxNesting.
	deep := img1
	for i := 0; i <= manifest.MaxNesting; i++ {
		deep = x.index(deep)
	}

	cases := []struct {
		name  string
		root  manifest.Descriptor
		want  []manifest.Descriptor // in walk order
		check func(error) bool      // for an error
	}{
		{name: "image", root: img1, want: []manifest.Descriptor{img1, cfg1, base, own1}},
		{name: "index: shared layer once", root: idx, want: []manifest.Descriptor{idx, img1, cfg1, base, own1, img2, cfg2, own2}},
		{name: "foreign layer left out", root: withForeign, want: []manifest.Descriptor{withForeign, cfg1, own1}},
		{name: "layer not cached is listed", root: uncachedLayer, want: []manifest.Descriptor{uncachedLayer, cfg1, absentBlob("not fetched")}},
		{name: "root not cached", root: absentBlob("root"), check: func(err error) bool {
			var m *MissingError
			return errors.As(err, &m) && m.Digest == absentBlob("root").Digest
		}},
		{name: "child manifest not cached", root: missingChild, check: func(err error) bool {
			var m *MissingError
			return errors.As(err, &m) && m.Digest == absentBlob("child manifest").Digest
		}},
		{name: "too deep", root: deep, check: func(err error) bool { return errors.Is(err, manifest.ErrTooDeep) }},
		{name: "not a manifest", root: manifest.Descriptor{Digest: cfg1.Digest}, check: func(err error) bool { return errors.Is(err, manifest.ErrMalformed) }},
		{name: "media type disagrees", root: manifest.Descriptor{Digest: img1.Digest, MediaType: manifest.OCIIndex}, check: func(err error) bool { return errors.Is(err, manifest.ErrMismatch) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.ImageBlobs(tc.root.Digest, tc.root.MediaType)
			if tc.check != nil {
				if err == nil || !tc.check(err) {
					t.Fatalf("ImageBlobs = %v, %v; want the error checked", digests(got), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d blobs %v, want %d", len(got), digests(got), len(tc.want))
			}
			for i, w := range tc.want {
				if got[i].Digest != w.Digest || got[i].Size != w.Size {
					t.Errorf("blob %d: %s (%d bytes), want %s (%d bytes)", i, got[i].Digest, got[i].Size, w.Digest, w.Size)
				}
			}
			if got[0].MediaType != tc.root.MediaType {
				t.Errorf("root listed as %q, want %q", got[0].MediaType, tc.root.MediaType)
			}
		})
	}
}

func TestMissingErrorNamesTheDigest(t *testing.T) {
	d := absentBlob("x").Digest
	err := fmt.Errorf("attachment: %w", &MissingError{Digest: d})
	if want := "attachment: manifest " + d + " is not in the cache"; err.Error() != want {
		t.Fatalf("%q, want %q", err, want)
	}
}

func TestForget(t *testing.T) {
	c := open(t)
	x := content{t, c}
	base := x.blob("base layer")
	cfgA, ownA := x.blob(`{"a":1}`), x.blob("a's layer")
	cfgB, ownB := x.blob(`{"b":1}`), x.blob("b's layer")
	a := x.image(cfgA, base, ownA)
	b := x.image(cfgB, base, ownB)
	broken := x.index(absentBlob("gone child"), a) // incomplete: keeps nothing alive
	for name, d := range map[string]manifest.Descriptor{"a:1": a, "b:1": b, "broken:1": broken} {
		if err := c.Tag(name, manifest.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}); err != nil {
			t.Fatal(err)
		}
	}
	n, freed, err := c.Forget([]string{"a:1"})
	if err != nil {
		t.Fatal(err)
	}
	wantGone := []manifest.Descriptor{a, cfgA, ownA}
	var wantFreed int64
	for _, d := range wantGone {
		wantFreed += d.Size
		if ok, _ := c.Has(d.Digest); ok {
			t.Errorf("%s of the forgotten image kept", d.Digest)
		}
	}
	if n != len(wantGone) || freed != wantFreed {
		t.Errorf("Forget = %d blobs, %d bytes; want %d, %d", n, freed, len(wantGone), wantFreed)
	}
	for _, d := range []manifest.Descriptor{base, b, cfgB, ownB, broken} {
		if ok, _ := c.Has(d.Digest); !ok {
			t.Errorf("%s removed although a remaining image uses it", d.Digest)
		}
	}
	refs, _ := c.Refs()
	var names []string
	for _, r := range refs {
		names = append(names, r.Annotations[RefAnnotation])
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"b:1", "broken:1"}) {
		t.Errorf("named images left: %v", names)
	}
	// Forgetting what is not named changes nothing.
	if n, _, err := c.Forget([]string{"never:1"}); err != nil || n != 0 {
		t.Errorf("Forget of an unknown name = %d, %v", n, err)
	}
}

func TestDropDamaged(t *testing.T) {
	type build struct {
		root    manifest.Descriptor
		damage  func() // applied after building
		dropped []manifest.Descriptor
		hash    bool // as ocm-fetch --verify
	}
	cases := []struct {
		name string
		mk   func(x content) build
	}{
		{"whole image: nothing", func(x content) build {
			img := x.image(x.blob("cfg"), x.blob("layer"))
			return build{root: img}
		}},
		{"not cached: nothing", func(x content) build {
			return build{root: absentBlob("root")}
		}},
		{"layer of the wrong size: it and its manifest", func(x content) build {
			layer := x.blob("layer")
			img := x.image(x.blob("cfg"), layer)
			return build{root: img, damage: func() {
				os.WriteFile(x.c.BlobPath(layer.Digest), []byte("lay"), 0o644)
			}, dropped: []manifest.Descriptor{layer, img}}
		}},
		{"layer missing: its manifest", func(x content) build {
			img := x.image(x.blob("cfg"), absentBlob("layer"))
			return build{root: img, dropped: []manifest.Descriptor{img}}
		}},
		{"child damaged: child and index, sibling kept", func(x content) build {
			layer := x.blob("layer")
			good := x.image(x.blob("cfg"), x.blob("other layer"))
			bad := x.image(x.blob("cfg2"), layer)
			idx := x.index(good, bad)
			return build{root: idx, damage: func() {
				os.WriteFile(x.c.BlobPath(layer.Digest), []byte("l"), 0o644)
			}, dropped: []manifest.Descriptor{layer, bad, idx}}
		}},
		{"child missing: index", func(x content) build {
			idx := x.index(x.image(x.blob("cfg"), x.blob("layer")), absentBlob("child"))
			return build{root: idx, dropped: []manifest.Descriptor{idx}}
		}},
		// A byte flipped in place keeps the size: only hashing finds it.
		{"layer flipped in place, sizes only: nothing", func(x content) build {
			layer := x.blob("layer")
			img := x.image(x.blob("cfg"), layer)
			return build{root: img, damage: func() {
				os.WriteFile(x.c.BlobPath(layer.Digest), []byte("lazer"), 0o644)
			}}
		}},
		{"layer flipped in place, hashed: it and its manifest", func(x content) build {
			layer := x.blob("layer")
			img := x.image(x.blob("cfg"), layer)
			return build{root: img, hash: true, damage: func() {
				os.WriteFile(x.c.BlobPath(layer.Digest), []byte("lazer"), 0o644)
			}, dropped: []manifest.Descriptor{layer, img}}
		}},
		{"config flipped in place, hashed: child and index, sibling kept", func(x content) build {
			cfg := x.blob("cfg2")
			good := x.image(x.blob("cfg"), x.blob("other layer"))
			bad := x.image(cfg, x.blob("layer"))
			idx := x.index(good, bad)
			return build{root: idx, hash: true, damage: func() {
				os.WriteFile(x.c.BlobPath(cfg.Digest), []byte("cfg3"), 0o644)
			}, dropped: []manifest.Descriptor{cfg, bad, idx}}
		}},
		{"whole image, hashed: nothing", func(x content) build {
			return build{root: x.image(x.blob("cfg"), x.blob("layer")), hash: true}
		}},
		{"manifest content damaged: it", func(x content) build {
			img := x.image(x.blob("cfg"), x.blob("layer"))
			return build{root: img, damage: func() {
				b, _ := os.ReadFile(x.c.BlobPath(img.Digest))
				b[len(b)-2] = ' '
				os.WriteFile(x.c.BlobPath(img.Digest), b, 0o644)
			}, dropped: []manifest.Descriptor{img}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t)
			b := tc.mk(content{t, c})
			if b.damage != nil {
				b.damage()
			}
			var hashed *Hashed
			if b.hash {
				hashed = &Hashed{}
			}
			removed, err := c.DropDamaged(b.root.Digest, b.root.MediaType, b.root.Size, nil, hashed)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, d := range b.dropped {
				want = append(want, d.Digest)
				if ok, _ := c.Has(d.Digest); ok {
					t.Errorf("%s still in the cache", d.Digest)
				}
			}
			if !slices.Equal(removed, want) {
				t.Errorf("removed %v, want %v", removed, want)
			}
		})
	}
}
