package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
)

// F13: a digest or tag that is not one never becomes a URL, whoever calls
// the client (the record reader refuses it first; this is the last line).
func TestF13BadReferencesNeverReachTheRegistry(t *testing.T) {
	reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(reg)
	defer srv.Close()
	rt := &countingRT{inner: http.DefaultTransport}
	c := New(Options{Base: rt})
	repo, err := c.Repository(strings.TrimPrefix(srv.URL, "http://") + "/m/app")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const good = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, bad := range []string{"sha256:../../victim/manifests/x", "../victim", "sha256:" + strings.ToUpper(good[7:]), "a/b", "x?y", ""} {
		calls := map[string]error{}
		_, _, calls["HeadManifest"] = c.HeadManifest(ctx, repo, bad)
		_, _, _, calls["Manifest"] = c.Manifest(ctx, repo, bad)
		calls["PutManifest"] = c.PutManifest(ctx, repo, bad, []byte("{}"), "application/json")
		calls["DeleteManifest"] = c.DeleteManifest(ctx, repo, bad)
		_, calls["HasBlob"] = c.HasBlob(ctx, repo, bad, false)
		_, _, calls["Blob"] = c.Blob(ctx, repo, bad)
		_, _, calls["Mount"] = c.Mount(ctx, repo, bad, "m/other")
		_, calls["Upload"] = c.Upload(ctx, repo, bad, 2, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte("{}"))), nil }, "")
		for op, err := range calls {
			if !errors.Is(err, ErrBadReference) {
				t.Errorf("%s(%q): err = %v, want ErrBadReference", op, bad, err)
			}
		}
	}
	if n := rt.rest.Load(); n != 0 {
		t.Fatalf("%d requests reached the registry", n)
	}
	// Tags stay usable for manifests, not for blobs.
	if _, _, err := c.HeadManifest(ctx, repo, "v1.0_rc-2"); errors.Is(err, ErrBadReference) {
		t.Fatalf("a valid tag was refused: %v", err)
	}
	if _, err := c.HasBlob(ctx, repo, "latest", false); !errors.Is(err, ErrBadReference) {
		t.Fatalf("a tag was accepted as a blob digest: %v", err)
	}
}
