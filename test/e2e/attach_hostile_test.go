package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// referrersFlood is a proxy in front of a real registry that answers the
// referrers API, for subject with an index of n entries (tiny manifests
// that exist nowhere); everything else goes to the registry.
func referrersFlood(t *testing.T, upstream, repo, subject string, n int) string {
	t.Helper()
	type desc struct {
		MediaType    string `json:"mediaType"`
		Digest       string `json:"digest"`
		Size         int    `json:"size"`
		ArtifactType string `json:"artifactType"`
	}
	idx := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []desc `json:"manifests"`
	}{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json"}
	for i := 0; i < n; i++ {
		idx.Manifests = append(idx.Manifests, desc{"application/vnd.oci.image.manifest.v1+json", fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(fmt.Sprint(i)))), 300, "application/spdx+json"})
	}
	body, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://" + upstream)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A registry with the referrers API: an empty index for every
		// other subject.
		if strings.Contains(r.URL.Path, "/referrers/") {
			w.Header().Set("Content-Type", idx.MediaType)
			if r.URL.Path == "/v2/"+repo+"/referrers/"+subject {
				w.Write(body)
			} else {
				fmt.Fprintf(w, `{"schemaVersion":2,"mediaType":%q,"manifests":[]}`, idx.MediaType)
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestN18AttachmentFloodFailsOneImage: an image whose referrers index lists
// 20,000 entries fails alone (exit 1, naming --max-attachments), its record
// stays one short line, the other images go on, and the next stage reads
// the output. Before, the record grew to a 5.8 MB line and the next stage
// refused the whole input (exit 2).
func TestN18AttachmentFloodFailsOneImage(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 1024)
	var victim fixture.Image
	for _, img := range set.Images {
		if img.Repo == "ubi9/ubi-minimal" {
			victim = img
		}
	}
	proxy := referrersFlood(t, src.Host, victim.Repo, victim.Digest, 20000)
	dir := t.TempDir()
	isc := writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(proxy, set))

	check := func(stage, out string, want record.Status) {
		t.Helper()
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if len(line) > 64<<10 {
				t.Errorf("%s: a record line of %d bytes", stage, len(line))
			}
		}
		recs := records(t, out)
		if len(recs) != len(set.Images) {
			t.Errorf("%s: %d records, want %d", stage, len(recs), len(set.Images))
		}
		for _, rec := range recs {
			switch {
			case rec.Status == record.StatusSkipped:
			case rec.Digest == victim.Digest:
				if rec.Status != record.StatusFailed || !strings.Contains(rec.Error, "20000 signatures, attestations, SBOMs and referrers found, more than --max-attachments 1000") {
					t.Errorf("%s: %s: %s %q, want failed naming --max-attachments", stage, rec.Source, rec.Status, rec.Error)
				}
			case rec.Status != want:
				t.Errorf("%s: %s: %s %s, want %s", stage, rec.Source, rec.Status, rec.Error, want)
			}
		}
	}

	t.Run("mirror to mirror", func(t *testing.T) {
		r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c %s | ocm-push docker://%s > pushed.jsonl", isc, dst.Host))
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		check("push", sh(t, dir, nil, "cat pushed.jsonl").stdout, record.StatusPushed)
	})

	t.Run("mirror to disk to mirror", func(t *testing.T) {
		r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c %s | ocm-fetch --cache cache > fetched.jsonl", isc))
		if r.code != 1 {
			t.Errorf("fetch: exit %d, want 1", r.code)
		}
		check("fetch", sh(t, dir, nil, "cat fetched.jsonl").stdout, record.StatusCached)
		r = sh(t, dir, nil, fmt.Sprintf("ocm-push docker://%s/disk --cache cache < fetched.jsonl > pushed2.jsonl", dst.Host))
		if r.code != 1 {
			t.Errorf("push after fetch: exit %d, want 1 (the failed image passes through)", r.code)
		}
		check("push after fetch", sh(t, dir, nil, "cat pushed2.jsonl").stdout, record.StatusPushed)
	})

	t.Run("the cap is bounded", func(t *testing.T) {
		r := sh(t, dir, nil, fmt.Sprintf("ocm-push docker://%s --max-attachments %d < /dev/null", dst.Host, record.MaxAttachments+1))
		if r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("want 1 to %d", record.MaxAttachments)) {
			t.Errorf("exit %d, want 2 naming the bound; stderr:\n%s", r.code, r.stderr)
		}
	})
}
