package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/store"
)

// Copying one image: from a registry repository into the local cache, then
// out of the cache into another registry. Each direction is the same call,
// Engine.Copy(source store, digest, destination store, tag).
func Example() {
	ctx := context.Background()
	// Two throw-away registries on 127.0.0.1 (plain HTTP is allowed on
	// loopback only), and one image in the first.
	src := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer src.Close()
	dst := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer dst.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	img, _ := random.Image(1024, 2)
	ref, _ := name.ParseReference(host(src) + "/team/app:1.0")
	if err := remote.Write(ref, img); err != nil {
		log.Fatal(err)
	}
	digest, _ := img.Digest()

	client := registry.New(registry.Options{TLSVerify: true})
	dir, _ := os.MkdirTemp("", "ocm-cache-")
	defer os.RemoveAll(dir)
	c, err := cache.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	repo := func(s string) store.Store {
		n, err := client.Repository(s)
		if err != nil {
			log.Fatal(err)
		}
		return &registry.Repo{Client: client, Name: n}
	}
	eng := copier.New(copier.Options{BlobWorkers: 4})

	// Registry to cache, named in the cache's index.json by its reference.
	if _, err := eng.Copy(ctx, repo(host(src)+"/team/app"), digest.String(), c, ref.String()); err != nil {
		log.Fatal(err)
	}
	// Cache to registry, tagged 1.0 there.
	res, err := eng.Copy(ctx, c, digest.String(), repo(host(dst)+"/mirror/team/app"), "1.0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("copied:", res.Digest == digest.String(), "blobs moved:", eng.Stats.BlobsCopied.Load())

	// Again: the destination has it, nothing moves.
	res, _ = eng.Copy(ctx, c, digest.String(), repo(host(dst)+"/mirror/team/app"), "1.0")
	fmt.Println("up to date:", res.UpToDate)

	// A store that lacks a digest says so in a way callers can test.
	absent := "sha256:" + strings.Repeat("0", 64)
	_, _, err = c.Manifest(ctx, absent)
	_, _, err2 := repo(host(dst)+"/mirror/team/app").Manifest(ctx, absent)
	fmt.Println("not found:", errors.Is(err, store.ErrNotFound), errors.Is(err2, store.ErrNotFound))
	// Output:
	// copied: true blobs moved: 6
	// up to date: true
	// not found: true true
}
