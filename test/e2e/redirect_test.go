package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
)

// TestRedirectedBlobStorage: a source registry with htpasswd auth and the
// "redirect" storage middleware answers every blob read with 307 to
// storage on another 127.0.0.1 port (as quay.io, registry.redhat.io and
// S3-backed registries do). plan|push mirrors every image, skopeo finds
// the source digests in the mirror, blobs were read from the storage, and
// the storage never received the source's credentials.
func TestRedirectedBlobStorage(t *testing.T) {
	dir := t.TempDir()
	regDir := filepath.Join(dir, "src")
	var mu sync.Mutex
	var gets int
	var creds []string
	files := http.FileServer(http.Dir(filepath.Join(regDir, "data")))
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if r.Method == http.MethodGet {
			gets++
		}
		for _, h := range []string{"Authorization", "Cookie"} {
			if v := r.Header.Get(h); v != "" {
				creds = append(creds, h+": "+v)
			}
		}
		mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	defer storage.Close()
	src, err := testenv.StartRegistry(context.Background(), regDir, testenv.RegistryOptions{Auth: true, RedirectBlobsTo: storage.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set, err := fixture.Additional(context.Background(), fixture.Options{Host: src.Host, Auth: &authn.Basic{Username: src.User, Password: src.Pass}})
	if err != nil {
		t.Fatalf("building fixture images: %v", err)
	}
	if err := src.AuthFile(filepath.Join(dir, "auth.json"), src.User, src.Pass); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	gets, creds = 0, nil // pushing the fixture is not under test
	mu.Unlock()
	isc := writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan --authfile auth.json -c %s | ocm-push --authfile auth.json docker://%s/mirror > pushed.jsonl", isc, dst.Host))
	if r.code != 0 {
		t.Fatalf("pipeline exit %d:\n%s", r.code, r.stderr)
	}
	for _, img := range set.Images {
		if strings.HasPrefix(img.Repo, "library/alpine") {
			continue // blocked by the ISC
		}
		target := fmt.Sprintf("docker://%s/mirror/%s", dst.Host, img.Repo)
		if img.Tag != "" {
			target += ":" + img.Tag
		} else {
			target += "@" + img.Digest
		}
		if got := skopeoDigest(t, target, "--tls-verify=false"); got != img.Digest {
			t.Errorf("%s: mirror digest %s, source %s", target, got, img.Digest)
		}
	}
	moved := blobsMoved(t, r.stderr)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d blobs moved, %d GETs on the storage", moved, gets)
	if moved == 0 || gets < moved {
		t.Errorf("%d blobs moved, %d read from the storage: want every blob read through the redirect", moved, gets)
	}
	if len(creds) > 0 {
		t.Errorf("the storage on another port received %d credential headers, e.g. %q", len(creds), creds[0])
	}
}
