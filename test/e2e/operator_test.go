package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/catalog"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/fixture"
	"github.com/ocm-mirror/ocm/lib/imagefs"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/testenv"
)

const operatorISC = `mirror:
  operators:
  - catalog: %s
    targetCatalog: mirrored/ocm-index
    packages:
    - name: aqua
      channels:
      - name: fast
        minVersion: 1.3.0
    - name: elastic
      minVersion: 5.2.3-31
    - name: gamma
`

// readCatalog reads the declarative config of the catalog at ref.
func readCatalog(t *testing.T, host, repo, digest string) *catalog.FBC {
	t.Helper()
	c := registry.New(registry.Options{})
	r, err := c.Repository(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	src := &copier.RemoteSource{Client: c, Repo: r}
	img, err := imagefs.Resolve(context.Background(), src, digest, "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	files, err := imagefs.ReadFiles(context.Background(), src, img, []string{catalog.ConfigsDir(img), "tmp/cache"}, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	for f := range files {
		if strings.HasPrefix(f, "tmp/cache") {
			t.Errorf("stale serve cache %s kept in the rebuilt catalog", f)
		}
	}
	fbc, err := catalog.Parse(files)
	if err != nil {
		t.Fatalf("rebuilt catalog does not parse: %v", err)
	}
	return fbc
}

func TestOperatorsMirrorToMirror(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{cat.Ref, cat.MultiRef} {
		t.Run(filepath.Base(ref), func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf(operatorISC, ref))
			r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c isc.yaml --cache cache | ocm-push --cache cache docker://%s | ocm-resources --out res > pushed.jsonl", dst.Host))
			if r.code != 0 {
				t.Fatalf("exit %d", r.code)
			}
			wantBundles := []string{"aqua.v1.3.0", "aqua.v1.4.0", "elastic.v5.2.3-31", "elastic.v5.2.4", "gamma.v0.2.0"}
			var gotBundles []string
			var catRec *record.Record
			for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
				if rec.Status != record.StatusPushed {
					t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
				}
				switch rec.Origin {
				case record.OriginBundle:
					gotBundles = append(gotBundles, rec.Bundle)
				case record.OriginCatalog:
					catRec = rec
				}
				if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
					t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
				}
			}
			sort.Strings(gotBundles)
			if strings.Join(gotBundles, " ") != strings.Join(wantBundles, " ") {
				t.Fatalf("bundles %v, want %v", gotBundles, wantBundles)
			}
			if catRec == nil || !strings.HasPrefix(catRec.Target, dst.Host+"/mirrored/ocm-index:v1") {
				t.Fatalf("catalog record %+v", catRec)
			}
			// Pull the rebuilt catalog back: only the selection, valid channels.
			fbc := readCatalog(t, dst.Host, "mirrored/ocm-index", catRec.Digest)
			var kept []string
			for pn, p := range fbc.Packages {
				for bn := range p.Bundles {
					kept = append(kept, bn)
				}
				if p.Channels[p.DefaultChannel] == nil {
					t.Errorf("%s: default channel %s missing", pn, p.DefaultChannel)
				}
				for cn, c := range p.Channels {
					if _, err := c.Head(); err != nil {
						t.Errorf("%s/%s: %v", pn, cn, err)
					}
				}
			}
			sort.Strings(kept)
			if strings.Join(kept, " ") != strings.Join(wantBundles, " ") {
				t.Fatalf("rebuilt catalog has %v, want %v", kept, wantBundles)
			}
			cs := sh(t, dir, nil, "cat res/cs-ocm-index-v1.yaml").stdout
			if !strings.Contains(cs, "image: "+dst.Host+"/mirrored/ocm-index@"+catRec.Digest) {
				t.Fatalf("CatalogSource:\n%s", cs)
			}
		})
	}
}

// TestOperatorWithFailingRelatedImage: one related image is gone from the
// source; the run completes with exit 1, the summary names the operator and
// bundle, and the other operators are mirrored.
func TestOperatorWithFailingRelatedImage(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf(operatorISC, cat.Ref))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml --cache cache > plan.jsonl"); r.code != 0 {
		t.Fatalf("plan exit %d", r.code)
	}
	// Delete gamma.v0.2.0's operator image from the source.
	gone := cat.Related["gamma.v0.2.0"][1]
	at := strings.LastIndex(gone, "@")
	req, _ := http.NewRequest(http.MethodDelete, "http://"+src.Host+"/v2/"+strings.TrimPrefix(gone[:at], src.Host+"/")+"/manifests/"+gone[at+1:], nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deleting %s: %v %v", gone, resp, err)
	}
	r := sh(t, dir, nil, fmt.Sprintf("ocm-push --cache cache docker://%s < plan.jsonl > pushed.jsonl", dst.Host))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, "FAILED "+gone+" (gamma/gamma.v0.2.0)") {
		t.Fatalf("summary does not name the operator and bundle:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "incomplete operators: gamma (gamma.v0.2.0)") {
		t.Fatalf("summary does not list the incomplete operator:\n%s", r.stderr)
	}
	if log := sh(t, dir, nil, "cat working-dir/logs/mirroring_errors_*.log"); log.code != 0 || !strings.Contains(log.stdout, gone) {
		t.Fatalf("error log:\n%s", log.stdout)
	}
	var catRec *record.Record
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Package == "aqua" || rec.Package == "elastic" {
			if rec.Status != record.StatusPushed {
				t.Errorf("%s (%s): %s", rec.Source, rec.Package, rec.Error)
			}
		}
		if rec.Origin == record.OriginCatalog {
			catRec = rec
		}
	}
	// The mirrored catalog leaves out the incomplete bundle (gamma's only one,
	// so the whole package) and keeps the others.
	if catRec == nil || catRec.Status != record.StatusPushed {
		t.Fatalf("catalog record %+v", catRec)
	}
	fbc := readCatalog(t, dst.Host, "mirrored/ocm-index", catRec.Digest)
	if fbc.Packages["gamma"] != nil {
		t.Error("the catalog still offers gamma, whose bundle did not mirror")
	}
	if fbc.Packages["aqua"] == nil || fbc.Packages["elastic"] == nil || len(fbc.Packages["aqua"].Bundles) != 2 {
		t.Errorf("complete operators missing from the catalog: %v", fbc.SortedPackages())
	}
}
