package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/catalogtest"
	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/catalog"
	"github.com/ocm-mirror/ocm/lib/imagefs"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
)

const operatorISC = `mirror:
  operators:
  - catalog: %s
    targetCatalog: mirrored/ocm-index
    packages:
    - name: aqua
      defaultChannel: fast
      channels:
      - name: fast
        minVersion: 1.3.0
    - name: elastic
      minVersion: 5.2.3-31
    - name: gamma
`

// readCatalog reads the declarative config of the catalog at ref and, when
// saveTo is set, writes its files there (for opm validate).
func readCatalog(t *testing.T, host, repo, digest, saveTo string) *catalog.FBC {
	t.Helper()
	c := registry.New(registry.Options{})
	r, err := c.Repository(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	src := &registry.Repo{Client: c, Name: r}
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
	if saveTo != "" {
		prefix := catalog.ConfigsDir(img) + "/"
		for f, b := range files {
			if rel, ok := strings.CutPrefix(f, prefix); ok {
				writeFile(t, filepath.Join(saveTo, rel), string(b))
			}
		}
	}
	return fbc
}

// opmValidate runs operator-registry's own validator on a declarative
// config directory: make tools builds bin/opm from tools/opm.
func opmValidate(t *testing.T, dir string) (string, error) {
	t.Helper()
	opm := filepath.Join(repoRoot(t), "bin", "opm")
	if _, err := os.Stat(opm); err != nil {
		if opm, err = exec.LookPath("opm"); err != nil {
			t.Fatalf("opm not found in bin/ or PATH; fix: make tools")
		}
	}
	// opm accepts an empty directory: make sure there is a catalog to judge.
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	if n == 0 {
		t.Fatalf("no catalog files in %s to validate", dir)
	}
	out, err := exec.Command(opm, "validate", dir).CombinedOutput()
	return string(out), err
}

func TestOperatorsMirrorToMirror(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096, Opm: tool(t, "opm")})
	if err != nil {
		t.Fatal(err)
	}
	// The source catalog serves everything from the serve cache it ships
	// (built by opm from the full config, integrity enforced): the mirrored
	// one must not serve that cache.
	if !cat.ServeCache {
		t.Fatal("the fixture catalog ships no real serve cache")
	}
	orig := serveCatalog(t, cat.Ref)
	if !strings.Contains(strings.Join(orig.command, " "), "--cache-dir=") {
		t.Fatalf("the source catalog does not start from its cache: %q", orig.command)
	}
	var wantAll []string
	for _, b := range catalogtest.Bundles() {
		wantAll = append(wantAll, b.Name)
	}
	sort.Strings(wantAll)
	if got := orig.bundleNames(); strings.Join(got, " ") != strings.Join(wantAll, " ") {
		t.Fatalf("the source catalog serves %v, want all of %v", got, wantAll)
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
			fbc := readCatalog(t, dst.Host, "mirrored/ocm-index", catRec.Digest, filepath.Join(dir, "fbc"))
			if out, err := opmValidate(t, filepath.Join(dir, "fbc")); err != nil {
				t.Fatalf("opm validate rejects the rebuilt catalog: %v\n%s", err, out)
			}
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
			// A CatalogSource pod's view: the image's own command, over gRPC.
			srv := serveCatalog(t, dst.Host+"/mirrored/ocm-index@"+catRec.Digest)
			if got := srv.bundleNames(); strings.Join(got, " ") != strings.Join(wantBundles, " ") {
				t.Errorf("the mirrored catalog serves bundles %v, want %v", got, wantBundles)
			}
			if got := strings.Join(srv.Packages, " "); got != "aqua elastic gamma" {
				t.Errorf("the mirrored catalog serves packages %s, want aqua elastic gamma", got)
			}
			for _, b := range srv.Bundles {
				if c := fbc.Packages[b.Package].Channels[b.Channel]; c == nil {
					t.Errorf("served %s in channel %s/%s, which the rebuilt config lacks", b.Name, b.Package, b.Channel)
				}
			}
			t.Logf("start-up to first gRPC answer: source catalog (pre-built cache) %v, mirrored catalog (cache built at start) %v",
				orig.startup.Round(time.Millisecond), srv.startup.Round(time.Millisecond))
			// By tag, so that a registryPoll template picks up a re-mirror;
			// the tag names the rebuilt catalog.
			cs := sh(t, dir, nil, "cat res/cs-ocm-index-v1.yaml").stdout
			if !strings.Contains(cs, "image: "+dst.Host+"/mirrored/ocm-index:v1\n") {
				t.Fatalf("CatalogSource:\n%s", cs)
			}
			if got := skopeoDigest(t, "docker://"+dst.Host+"/mirrored/ocm-index:v1", "--tls-verify=false"); got != catRec.Digest {
				t.Errorf("the CatalogSource's tag names %s, not the rebuilt catalog %s", got, catRec.Digest)
			}
			if cc := sh(t, dir, nil, "cat res/cc-ocm-index-v1.yaml").stdout; !strings.Contains(cc, "ref: "+dst.Host+"/mirrored/ocm-index:v1\n") {
				t.Fatalf("ClusterCatalog:\n%s", cc)
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
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096, Opm: tool(t, "opm")})
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
	fbc := readCatalog(t, dst.Host, "mirrored/ocm-index", catRec.Digest, filepath.Join(dir, "fbc"))
	if out, err := opmValidate(t, filepath.Join(dir, "fbc")); err != nil {
		t.Fatalf("opm validate rejects the rebuilt catalog: %v\n%s", err, out)
	}
	if fbc.Packages["gamma"] != nil {
		t.Error("the catalog still offers gamma, whose bundle did not mirror")
	}
	if fbc.Packages["aqua"] == nil || fbc.Packages["elastic"] == nil || len(fbc.Packages["aqua"].Bundles) != 2 {
		t.Errorf("complete operators missing from the catalog: %v", fbc.SortedPackages())
	}
	srv := serveCatalog(t, dst.Host+"/mirrored/ocm-index@"+catRec.Digest)
	if got := strings.Join(srv.bundleNames(), " "); got != "aqua.v1.3.0 aqua.v1.4.0 elastic.v5.2.3-31 elastic.v5.2.4" {
		t.Errorf("the catalog serves %s, want the complete operators' bundles only", got)
	}
}

// TestOpmValidateCanFail: the validator used above rejects a catalog whose
// channel names a bundle that does not exist, so its approval means something.
func TestOpmValidateCanFail(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "fbc", "aqua", "catalog.json"), `{"schema":"olm.package","name":"aqua","defaultChannel":"fast"}
{"schema":"olm.channel","package":"aqua","name":"fast","entries":[{"name":"aqua.v1.0.0"}]}
`)
	out, err := opmValidate(t, filepath.Join(dir, "fbc"))
	if err == nil {
		t.Fatalf("opm validate accepted a channel without its bundle:\n%s", out)
	}
	if !strings.Contains(out, "aqua.v1.0.0") {
		t.Errorf("opm's complaint does not name the missing bundle:\n%s", out)
	}
}

// TestOperatorsAcrossTheGap: the README's two halves (mirror to disk, then
// disk to mirror and the resources) deliver a catalog that serves the
// selection, named by the CatalogSource and ClusterCatalog tags.
func TestOperatorsAcrossTheGap(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096, Opm: tool(t, "opm")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf(operatorISC, cat.Ref))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml --cache cache | ocm-fetch --cache cache | ocm-pack --cache cache --out archives > packed.jsonl"); r.code != 0 {
		t.Fatalf("mirror to disk: exit %d", r.code)
	}
	if r := sh(t, dir, nil, fmt.Sprintf("ocm-unpack archives --cache far | ocm-push --cache far docker://%s/ocp | ocm-resources --out res > pushed.jsonl", dst.Host)); r.code != 0 {
		t.Fatalf("disk to mirror: exit %d", r.code)
	}
	pushedCatalog(t, dir, "pushed.jsonl")
	byTag := dst.Host + "/ocp/mirrored/ocm-index:v1"
	for _, f := range []string{"res/cs-ocm-index-v1.yaml", "res/cc-ocm-index-v1.yaml"} {
		if out := sh(t, dir, nil, "cat "+f).stdout; !strings.Contains(out, byTag+"\n") {
			t.Fatalf("%s does not name %s:\n%s", f, byTag, out)
		}
	}
	// What the resources name is what a cluster would start.
	srv := serveCatalog(t, byTag)
	if got, want := strings.Join(srv.bundleNames(), " "), "aqua.v1.3.0 aqua.v1.4.0 elastic.v5.2.3-31 elastic.v5.2.4 gamma.v0.2.0"; got != want {
		t.Errorf("the catalog serves %s, want %s", got, want)
	}
	if got := strings.Join(srv.Packages, " "); got != "aqua elastic gamma" {
		t.Errorf("the catalog serves packages %s, want aqua elastic gamma", got)
	}
}
