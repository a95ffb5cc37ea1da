package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestN9SecurePolicyJudgesTheUpstreamCatalog: --secure-policy judges a
// catalog as upstream published it, not the filtered catalog ocm rebuilds
// (which upstream never signed). A catalog cosign-signed upstream passes a
// policy that asks for that signature, and the rebuilt catalog, marked as
// ocm's own (builtFrom), is pushed; an unsigned catalog is refused at plan,
// before anything is read from it. Before, the rebuilt digest was judged and
// a signed catalog could never pass.
func TestN9SecurePolicyJudgesTheUpstreamCatalog(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cosign := tool(t, "cosign")
	signed := strings.TrimSuffix(cat.Ref, ":v1") + "@" + cat.Digest
	if r := sh(t, dir, cosignEnv, fmt.Sprintf("%[1]s generate-key-pair && %[1]s sign %[2]s --key cosign.key --tlog-upload=false --yes %[3]s", cosign, cosignReg, signed)); r.code != 0 {
		t.Fatalf("signing the catalog: exit %d", r.code)
	}
	// Catalogs need cosign's signature; everything else of the source (the
	// bundles and related images) is accepted; elsewhere is rejected.
	writeFile(t, filepath.Join(dir, "policy.json"), fmt.Sprintf(`{
  "default": [{"type": "reject"}],
  "transports": {"docker": {
    "%[1]s/catalogs": [{"type": "sigstoreSigned", "keyPath": "%[2]s/cosign.pub", "signedIdentity": {"type": "matchRepository"}}],
    "%[1]s": [{"type": "insecureAcceptAnything"}]
  }}
}`, src.Host, dir))

	writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf(operatorISC, cat.Ref))
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan --secure-policy --policy policy.json -c isc.yaml --cache cache | ocm-push --cache cache docker://%s > pushed.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("signed catalog: exit %d, want 0:\n%s", r.code, r.stderr)
	}
	rec := pushedCatalog(t, dir, "pushed.jsonl")
	if rec.BuiltFrom != cat.Digest || rec.Digest == cat.Digest || !rec.Built() {
		t.Errorf("catalog record: digest %s, builtFrom %q; want the rebuilt catalog, built from %s", rec.Digest, rec.BuiltFrom, cat.Digest)
	}
	if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
		t.Errorf("mirror %s holds %s, want the rebuilt catalog %s", rec.Target, got, rec.Digest)
	}

	// The multi-arch catalog is not signed: refused as published, at plan,
	// and nothing is planned from what it lists.
	writeFile(t, filepath.Join(dir, "isc-unsigned.yaml"), head+fmt.Sprintf(operatorISC, cat.MultiRef))
	r = sh(t, dir, nil, "ocm-plan --secure-policy --policy policy.json -c isc-unsigned.yaml --cache cache > unsigned.jsonl")
	if r.code != 1 {
		t.Fatalf("unsigned catalog: exit %d, want 1", r.code)
	}
	recs := records(t, sh(t, dir, nil, "cat unsigned.jsonl").stdout)
	want := "catalog " + cat.MultiRef + ": refused by --secure-policy (scope \"" + src.Host + "/catalogs\", requirement sigstoreSigned): " + strings.TrimSuffix(cat.MultiRef, ":v1") + "@sha256:"
	if len(recs) != 1 || recs[0].Origin != record.OriginCatalog || recs[0].Status != record.StatusFailed || !strings.HasPrefix(recs[0].Error, want) {
		t.Fatalf("unsigned catalog: records %+v; want only the catalog, failed with %q", recs, want)
	}
}

// TestN9SecurePolicyLeavesBuiltChartsAlone: a chart from an HTTP Helm
// repository has no signature to judge, so the chart artifact ocm builds is
// ocm's own and a default-reject policy does not refuse it; the images the
// chart names are judged as usual (one is refused by its scope). Before, the
// artifact (localhost/helm/charts/...) fell to the default and was refused.
func TestN9SecurePolicyLeavesBuiltChartsAlone(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	populate(t, src)
	h := src.Host
	repo, err := fixture.NewHelmRepo(t.TempDir(), fixture.HelmChart("web", "1.0.0", h+"/ubi9/ubi:latest", h+"/ubi9/ubi-minimal:latest", h+"/docker/legacy:v1"))
	if err != nil {
		t.Fatal(err)
	}
	charts := httptest.NewServer(repo)
	defer charts.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf(`mirror:
  helm:
    repositories:
    - name: fixture
      url: %s
      charts:
      - name: web
        version: 1.0.0
`, charts.URL))
	writeFile(t, filepath.Join(dir, "policy.json"), fmt.Sprintf(`{
  "default": [{"type": "reject"}],
  "transports": {"docker": {
    "%[1]s": [{"type": "insecureAcceptAnything"}],
    "%[1]s/ubi9/ubi-minimal": [{"type": "reject"}]
  }}
}`, h))
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan --secure-policy --policy policy.json -c isc.yaml | ocm-push docker://%s > pushed.jsonl", dst.Host))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (ubi-minimal refused)", r.code)
	}
	got := map[string]string{}
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		got[rec.Source] = string(rec.Status) + " " + rec.Error
		if rec.Origin == record.OriginHelmChart && rec.Status == record.StatusPushed {
			checkChartInMirror(t, rec.Target, "web:1.0.0")
		}
	}
	want := map[string]string{
		"localhost/helm/charts/web:1.0.0": "pushed ",
		h + "/ubi9/ubi:latest":            "pushed ",
		h + "/ubi9/ubi-minimal:latest":    "failed refused by --secure-policy (scope \"" + h + "/ubi9/ubi-minimal\", requirement reject)",
	}
	for src, w := range want {
		if !strings.HasPrefix(got[src], w) {
			t.Errorf("%s: %q, want %q", src, got[src], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("records %v, want %d", got, len(want))
	}
}
