package resources

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/record"
)

var update = flag.Bool("update", false, "rewrite golden files")

const d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
const d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
const d3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333"

func fixture() []*record.Record {
	m := "mirror.example.com:5000/ocp"
	return []*record.Record{
		{Origin: record.OriginRelease, Source: "quay.io/openshift-release-dev/ocp-release@" + d1, Digest: d1, Status: record.StatusPushed, Target: m + "/openshift/release-images:4.15.3-x86_64"},
		{Origin: record.OriginReleaseComponent, Source: "quay.io/openshift-release-dev/ocp-v4.0-art-dev@" + d2, Digest: d2, Status: record.StatusPushed, Target: m + "/openshift/release:4.15.3-x86_64-etcd"},
		{Origin: record.OriginGraph, Source: "localhost/openshift/graph-image:latest", Digest: d3, Status: record.StatusPushed, Target: m + "/openshift/graph-image:latest"},
		{Origin: record.OriginCatalog, Source: "registry.redhat.io/redhat/redhat-operator-index:v4.15", Digest: d3, Status: record.StatusPushed, Target: m + "/redhat/redhat-operator-index:v4.15"},
		{Origin: record.OriginBundle, Source: "registry.redhat.io/a/bundle@" + d1, Digest: d1, Status: record.StatusPushed, Target: m + "/a/bundle:sha256-1111"},
		{Origin: record.OriginRelated, Source: "registry.redhat.io/a/operand@" + d2, Digest: d2, Status: record.StatusPushed, Target: m + "/a/operand:sha256-2222"},
		{Origin: record.OriginAdditional, Source: "registry.redhat.io/ubi9/ubi:latest", Tag: "latest", Digest: d1, Status: record.StatusPushed, Target: m + "/ubi9/ubi:latest"},
		{Origin: record.OriginAdditional, Source: "docker.io/library/alpine:3.20", Tag: "3.20", Digest: d2, Status: record.StatusPushed, Target: m + "/library/alpine:3.20"},
		{Origin: record.OriginAdditional, Source: "quay.io/x/pinned@" + d3, Digest: d3, Status: record.StatusPushed, Target: m + "/x/pinned:sha256-3333"},
		{Origin: record.OriginAdditional, Source: "quay.io/x/broken:1", Status: record.StatusFailed, Error: "denied"},
	}
}

func render(files []File) string {
	var b strings.Builder
	for _, f := range files {
		b.WriteString("# " + f.Name + "\n")
		b.Write(f.Data)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	files, err := Generate(fixture(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := render(files)
	golden := filepath.Join("testdata", "golden.yaml")
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s (run with -update after checking):\n%s", golden, got)
	}
	if strings.Contains(got, "broken") {
		t.Fatal("a failed record reached the resources")
	}
}

func TestOrderDoesNotMatter(t *testing.T) {
	first, _ := Generate(fixture(), Options{})
	for i := 0; i < 20; i++ {
		recs := fixture()
		rand.Shuffle(len(recs), func(a, b int) { recs[a], recs[b] = recs[b], recs[a] })
		again, err := Generate(recs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if render(first) != render(again) {
			t.Fatalf("shuffled input changed the output:\n%s\nvs\n%s", render(first), render(again))
		}
	}
}

func TestTemplate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "t.yaml")
	os.WriteFile(good, []byte("apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nmetadata:\n  name: discarded\n  namespace: openshift-marketplace\nspec:\n  image: discarded\n  sourceType: grpc\n  updateStrategy:\n    registryPoll:\n      interval: 30m0s\n"), 0o644)
	tm, err := LoadTemplate(good)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Generate(fixture(), Options{CatalogSourceTemplate: tm})
	if err != nil {
		t.Fatal(err)
	}
	var cs []byte
	for _, f := range files {
		if strings.HasPrefix(f.Name, "cs-") {
			cs = f.Data
		}
	}
	for _, want := range []string{"interval: 30m0s", "name: cs-redhat-operator-index-v4-15", "image: mirror.example.com:5000/ocp/redhat/redhat-operator-index:v4.15"} {
		if !bytes.Contains(cs, []byte(want)) {
			t.Errorf("catalog source lacks %q:\n%s", want, cs)
		}
	}
	if bytes.Contains(cs, []byte("discarded")) {
		t.Errorf("template's name/image kept:\n%s", cs)
	}
	// Per catalog (targetCatalogSourceTemplate), keyed by the catalog source.
	files, _ = Generate(fixture(), Options{Templates: map[string]map[string]any{"registry.redhat.io/redhat/redhat-operator-index:v4.15": tm}})
	for _, f := range files {
		if strings.HasPrefix(f.Name, "cs-") && !bytes.Contains(f.Data, []byte("interval: 30m0s")) {
			t.Errorf("per-catalog template not applied:\n%s", f.Data)
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: ConfigMap\n"), 0o644)
	if _, err := LoadTemplate(bad); err == nil || !strings.Contains(err.Error(), "must be an operators.coreos.com/v1alpha1 CatalogSource") {
		t.Fatalf("err = %v", err)
	}
}
