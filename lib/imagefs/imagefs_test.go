package imagefs

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ocm-mirror/ocm/lib/registry"
)

func layer(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[n]))
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestReadFilesHonoursWhiteouts(t *testing.T) {
	s := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	img, err := mutate.AppendLayers(empty.Image,
		layer(t, map[string]string{
			"configs/a/catalog.json": "a-old", "configs/b/catalog.json": "b", "configs/d/x.yaml": "d",
			"release-manifests/image-references": "refs", "usr/bin/opm": "binary",
		}),
		layer(t, map[string]string{"configs/.wh.b": "", "configs/a/catalog.json": "a-new", "tmp/cache/.wh..wh..opq": ""}),
		layer(t, map[string]string{"configs/e/index.yaml": "e"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	img, _ = mutate.Config(img, v1.Config{Labels: map[string]string{"operators.operatorframework.io.index.configs.v1": "/configs"}})
	ref, _ := name.ParseReference(host + "/cat/index:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	c := registry.New(registry.Options{TLSVerify: true})
	repo, _ := c.Repository(host + "/cat/index")
	src := &registry.Repo{Client: c, Name: repo}
	im, err := Resolve(context.Background(), src, d.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	if im.Config.Config.Labels["operators.operatorframework.io.index.configs.v1"] != "/configs" {
		t.Fatalf("labels %v", im.Config.Config.Labels)
	}
	files, err := ReadFiles(context.Background(), src, im, []string{"/configs"}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, v := range files {
		got[k] = string(v)
	}
	want := map[string]string{"configs/a/catalog.json": "a-new", "configs/d/x.yaml": "d", "configs/e/index.yaml": "e"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}

	// Opaque directory: an upper layer hiding everything below it in configs.
	img2, _ := mutate.AppendLayers(img, layer(t, map[string]string{"configs/.wh..wh..opq": "", "configs/z/catalog.json": "z"}))
	ref2, _ := name.ParseReference(host + "/cat/index:v2")
	remote.Write(ref2, img2)
	d2, _ := img2.Digest()
	im2, _ := Resolve(context.Background(), src, d2.String(), "")
	files, err = ReadFiles(context.Background(), src, im2, []string{"configs"}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || string(files["configs/z/catalog.json"]) != "z" {
		t.Fatalf("after opaque: %v", files)
	}
	// Size cap.
	if _, err := ReadFiles(context.Background(), src, im, []string{"configs"}, 3); err == nil {
		t.Fatal("size cap not enforced")
	}
}
