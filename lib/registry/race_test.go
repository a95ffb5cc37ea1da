package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"

	"github.com/ocm-mirror/ocm/lib/retry"
)

// TestN14RacedWritesAreRetried: a PUT that distribution refuses while
// another client writes the same content (400 DIGEST_INVALID on a blob
// upload, 400 MANIFEST_BLOB_UNKNOWN on a manifest) is tried again within
// the request's budget; any other 400 is not, and a race that never ends
// stops at the budget, still matching ErrConcurrentWrite.
func TestN14RacedWritesAreRetried(t *testing.T) {
	tests := []struct {
		name     string
		blob     bool   // the refused PUT is the blob upload, else the manifest
		code     string // the registry's error code
		refusals int    // how many PUTs are refused before one passes
		wantPuts int
		wantOK   bool
		raced    bool
	}{
		{name: "manifest raced once", code: "MANIFEST_BLOB_UNKNOWN", refusals: 1, wantPuts: 2, wantOK: true},
		{name: "blob raced once", blob: true, code: "DIGEST_INVALID", refusals: 1, wantPuts: 2, wantOK: true},
		{name: "manifest raced twice", code: "DIGEST_INVALID", refusals: 2, wantPuts: 3, wantOK: true},
		{name: "manifest invalid is not retried", code: "MANIFEST_INVALID", refusals: 1, wantPuts: 1},
		{name: "blob unsupported is not retried", blob: true, code: "UNSUPPORTED", refusals: 1, wantPuts: 1},
		{name: "endless race ends at the budget", code: "MANIFEST_BLOB_UNKNOWN", refusals: 100, wantPuts: 3, raced: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
			var mu sync.Mutex
			puts := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				upload := strings.Contains(r.URL.Path, "/blobs/uploads/")
				if r.Method == http.MethodPut && upload == tc.blob {
					mu.Lock()
					puts++
					refuse := puts <= tc.refusals
					mu.Unlock()
					if refuse {
						io.Copy(io.Discard, r.Body)
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusBadRequest)
						fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"refused"}]}`, tc.code)
						return
					}
				}
				reg.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c := New(Options{Base: http.DefaultTransport, Retry: fastRetry()})
			repo, err := c.Repository(strings.TrimPrefix(srv.URL, "http://") + "/ns/app")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			blob := []byte(`{"architecture":"amd64","os":"linux"}`)
			sum := sha256.Sum256(blob)
			bd := "sha256:" + hex.EncodeToString(sum[:])
			_, err = c.Upload(ctx, repo, bd, int64(len(blob)), func() (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(blob)), nil
			}, "")
			if err == nil {
				body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[]}`, bd, len(blob))
				err = c.PutManifest(ctx, repo, "v1", []byte(body), "application/vnd.oci.image.manifest.v1+json")
			}
			if (err == nil) != tc.wantOK {
				t.Fatalf("error %v, want success %v", err, tc.wantOK)
			}
			if puts != tc.wantPuts {
				t.Errorf("%d PUTs sent, want %d", puts, tc.wantPuts)
			}
			if err == nil {
				return
			}
			if got := errors.Is(err, ErrConcurrentWrite); got != tc.raced {
				t.Errorf("errors.Is(ErrConcurrentWrite) = %v, want %v: %v", got, tc.raced, err)
			}
			var x *retry.ExhaustedError
			if got := errors.As(err, &x); got != tc.raced {
				t.Errorf("exhausted = %v, want %v: %v", got, tc.raced, err)
			}
		})
	}
}
