package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestEnclaves: internet -> enterprise over archives; then, with the
// internet registry stopped and registries.conf pointing it at the
// enterprise registry, a subset for an enclave goes enterprise -> disk ->
// enclave. The enclave holds exactly the subset with the original digests,
// and its resources name the original (internet) sources.
func TestEnclaves(t *testing.T) {
	internet := testenv.Start(t, testenv.RegistryOptions{})
	enterprise := testenv.Start(t, testenv.RegistryOptions{})
	enclave := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, internet)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(internet.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-fetch --cache c1 | ocm-pack --cache c1 --out a1 > /dev/null"); r.code != 0 {
		t.Fatalf("internet side: exit %d", r.code)
	}
	if r := sh(t, dir, nil, fmt.Sprintf("ocm-unpack a1 --cache c2 | ocm-push --cache c2 docker://%s > /dev/null", enterprise.Host)); r.code != 0 {
		t.Fatalf("into the enterprise: exit %d", r.code)
	}

	internet.Stop()
	writeFile(t, filepath.Join(dir, "registries.conf"), fmt.Sprintf("[[registry]]\nlocation = %q\n\n[[registry.mirror]]\nlocation = %q\ninsecure = true\n", internet.Host, enterprise.Host))
	subset := []string{"ubi9/ubi:latest", "multiarch/tools:1.0"}
	var isc strings.Builder
	isc.WriteString(head + "mirror:\n  additionalImages:\n")
	for _, s := range subset {
		fmt.Fprintf(&isc, "  - name: %s/%s\n", internet.Host, s)
	}
	writeFile(t, filepath.Join(dir, "isc-enclave.yaml"), isc.String())
	r := sh(t, dir, nil, "ocm-plan -c isc-enclave.yaml --registries-conf registries.conf | ocm-fetch --registries-conf registries.conf --cache c3 | ocm-pack --cache c3 --out a2 > enclave-packed.jsonl")
	if r.code != 0 {
		t.Fatalf("enterprise side, internet stopped: exit %d", r.code)
	}
	for _, rec := range records(t, sh(t, dir, nil, "cat enclave-packed.jsonl").stdout) {
		if !strings.HasPrefix(rec.Source, internet.Host+"/") {
			t.Errorf("record source %s is not the original", rec.Source)
		}
		if rec.PulledFrom != enterprise.Host {
			t.Errorf("%s: pulledFrom %q, want the enterprise registry %s", rec.Source, rec.PulledFrom, enterprise.Host)
		}
	}
	r = sh(t, dir, nil, fmt.Sprintf("ocm-unpack a2 --cache c4 | ocm-push --cache c4 docker://%s | ocm-resources --out res > enclave.jsonl", enclave.Host))
	if r.code != 0 {
		t.Fatalf("into the enclave: exit %d", r.code)
	}
	for _, rec := range records(t, sh(t, dir, nil, "cat enclave.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			t.Fatalf("%s: %s", rec.Source, rec.Error)
		}
		img, _ := set.ByRepo(strings.SplitN(strings.TrimPrefix(rec.Source, internet.Host+"/"), ":", 2)[0])
		if rec.Digest != img.Digest {
			t.Errorf("%s: digest %s, internet original %s", rec.Source, rec.Digest, img.Digest)
		}
		if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != img.Digest {
			t.Errorf("%s in the enclave: %s", rec.Target, got)
		}
	}
	// Exactly the subset.
	resp, err := http.Get("http://" + enclave.Host + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	var catalog struct{ Repositories []string }
	json.NewDecoder(resp.Body).Decode(&catalog)
	resp.Body.Close()
	sort.Strings(catalog.Repositories)
	if strings.Join(catalog.Repositories, " ") != "multiarch/tools ubi9/ubi" {
		t.Fatalf("enclave repositories %v, want exactly the subset", catalog.Repositories)
	}
	itms := sh(t, dir, nil, "cat res/itms-oc-mirror.yaml").stdout
	for _, s := range []string{"ubi9/ubi", "multiarch/tools"} {
		// Its repository, or its namespace when mirrored whole.
		if ns, _, _ := strings.Cut(s, "/"); !strings.Contains(itms, "source: "+internet.Host+"/"+s+"\n") && !strings.Contains(itms, "source: "+internet.Host+"/"+ns+"\n") {
			t.Errorf("ITMS does not name the original source %s/%s:\n%s", internet.Host, s, itms)
		}
	}
	if strings.Contains(itms, "source: "+enterprise.Host) {
		t.Errorf("ITMS names the enterprise mirror as a source:\n%s", itms)
	}
}
