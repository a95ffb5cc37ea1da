package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ocm-mirror/ocm/internal/catalogtest"
	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// ociCatalogISC names a catalog in a local OCI layout, without
// targetCatalog: the mirror names it as oc-mirror v2 does.
const ociCatalogISC = `mirror:
  operators:
  - catalog: oci://%s
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

// writeLayout copies the image or index at ref into a new OCI image layout
// dir with go-containerregistry's layout package (as skopeo copy ... oci:DIR
// would), annotated with a ref name.
func writeLayout(t *testing.T, ref, dir string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	ann := layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err == nil {
			err = p.AppendIndex(idx, ann)
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	img, err := desc.Image()
	if err == nil {
		err = p.AppendImage(img, ann)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// addLayoutImage appends a random image named name to the layout at dir.
func addLayoutImage(t *testing.T, dir, name string) {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err == nil {
		err = p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": name}))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestOCICatalog: a catalog in a local OCI layout (oci://PATH) is filtered
// and rebuilt like a remote one, lands in the mirror as LAYOUT-DIR:latest
// (oc-mirror v2's name for it), serves the selection over gRPC, and gets a
// CatalogSource but no mirror set; its bundles and related images come from
// their registry. Mirror to mirror and across the gap.
func TestOCICatalog(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096, Opm: tool(t, "opm")})
	if err != nil {
		t.Fatal(err)
	}
	const wantBundles = "aqua.v1.3.0 aqua.v1.4.0 elastic.v5.2.3-31 elastic.v5.2.4 gamma.v0.2.0"
	var all []string
	for _, b := range catalogtest.Bundles() {
		all = append(all, b.Name)
	}
	sort.Strings(all)
	// Mirrored whole: nothing is rebuilt, and a push without the cache reads
	// the image from the layout itself.
	const fullISC = "mirror:\n  operators:\n  - catalog: oci://%s\n    full: true\n    targetTag: v9\n"
	for _, tc := range []struct {
		name, ref, script, isc, tag, want string
		sel                               string // appended to the layout path in the configuration
	}{
		{"m2m-full-from-layout", cat.Ref, "ocm-plan -c isc.yaml --cache cache | ocm-push docker://%s/full | ocm-resources --out res > pushed.jsonl", fullISC, "v9", strings.Join(all, " "), ""},
		{"m2m", cat.Ref, "ocm-plan -c isc.yaml --cache cache | ocm-push --cache cache docker://%s/m2m | ocm-resources --out res > pushed.jsonl", ociCatalogISC, "latest", wantBundles, ""},
		{"m2m-multi-arch", cat.MultiRef, "ocm-plan -c isc.yaml --cache cache | ocm-push --cache cache docker://%s/multi | ocm-resources --out res > pushed.jsonl", ociCatalogISC, "latest", wantBundles, ""},
		{"m2d-d2m", cat.Ref, "ocm-plan -c isc.yaml --cache cache | ocm-fetch --cache cache | ocm-pack --cache cache --out archives > packed.jsonl &&" +
			" ocm-unpack archives --cache far | ocm-push --cache far docker://%s/d2m | ocm-resources --out res > pushed.jsonl", ociCatalogISC, "latest", wantBundles, ""},
		// A layout holding another image beside the catalog: the catalog
		// is named by its ref name, which tags it in the mirror.
		{"m2m-named", cat.Ref, "ocm-plan -c isc.yaml --cache cache | ocm-push --cache cache docker://%s/named | ocm-resources --out res > pushed.jsonl", ociCatalogISC, "v1", wantBundles, ":v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			lay := filepath.Join(dir, "layouts", "ocm-index")
			writeLayout(t, tc.ref, lay)
			if tc.sel != "" {
				addLayoutImage(t, lay, "other")
			}
			writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf(tc.isc, lay+tc.sel))
			prefix := dst.Host + "/" + map[string]string{"m2m": "m2m", "m2m-multi-arch": "multi", "m2d-d2m": "d2m", "m2m-full-from-layout": "full", "m2m-named": "named"}[tc.name]
			if r := sh(t, dir, nil, fmt.Sprintf(tc.script, dst.Host)); r.code != 0 {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			var catRec *record.Record
			var bundles []string
			for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
				if rec.Status != record.StatusPushed {
					t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
				}
				switch rec.Origin {
				case record.OriginCatalog:
					catRec = rec
				case record.OriginBundle:
					bundles = append(bundles, rec.Bundle)
					if !strings.HasPrefix(rec.Source, src.Host+"/") {
						t.Errorf("bundle source %s, want the source registry", rec.Source)
					}
				}
				if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
					t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
				}
			}
			sort.Strings(bundles)
			if got := strings.Join(bundles, " "); got != tc.want {
				t.Errorf("bundles %s, want %s", got, tc.want)
			}
			if catRec == nil {
				t.Fatal("no catalog record")
			}
			if catRec.Source != "oci://"+lay {
				t.Errorf("catalog source %q, want oci://%s", catRec.Source, lay)
			}
			byTag := prefix + "/ocm-index:" + tc.tag
			if catRec.Target != byTag {
				t.Errorf("catalog target %q, want %s", catRec.Target, byTag)
			}
			if got := skopeoDigest(t, "docker://"+byTag, "--tls-verify=false"); got != catRec.Digest {
				t.Errorf("%s is %s, not the rebuilt catalog %s", byTag, got, catRec.Digest)
			}
			// A CatalogSource pod's view: the mirrored image's own command, over gRPC.
			srv := serveCatalog(t, byTag)
			if got := strings.Join(srv.bundleNames(), " "); got != tc.want {
				t.Errorf("the mirrored catalog serves %s, want %s", got, tc.want)
			}
			for _, f := range []string{"res/cs-ocm-index-" + tc.tag + ".yaml", "res/cc-ocm-index-" + tc.tag + ".yaml"} {
				if out := sh(t, dir, nil, "cat "+f).stdout; !strings.Contains(out, byTag+"\n") {
					t.Errorf("%s does not name %s:\n%s", f, byTag, out)
				}
			}
			ents, _ := os.ReadDir(filepath.Join(dir, "res"))
			for _, e := range ents {
				b, _ := os.ReadFile(filepath.Join(dir, "res", e.Name()))
				if strings.Contains(string(b), "oci:") || strings.Contains(string(b), lay) {
					t.Errorf("%s names the layout:\n%s", e.Name(), b)
				}
			}
		})
	}
}

// TestI27ShardedOCICatalogFromLayout: a sharded push reads an oci://
// catalog mirrored whole from its layout, as a single push does: the
// sharder asks the same locate.Locator as the copy, instead of looking the
// layout up as a registry host ("lookup oci") and stopping the run.
func TestI27ShardedOCICatalogFromLayout(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096, Opm: tool(t, "opm")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lay := filepath.Join(dir, "layouts", "ocm-index")
	writeLayout(t, cat.Ref, lay)
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf("mirror:\n  operators:\n  - catalog: oci://%s\n    full: true\n    targetTag: v9\n", lay))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml --cache cache --output plan.jsonl"); r.code != 0 {
		t.Fatalf("plan exit %d:\n%s", r.code, r.stderr)
	}
	planned := records(t, sh(t, dir, nil, "cat plan.jsonl").stdout)
	for i := 0; i < 2; i++ {
		if r := sh(t, dir, nil, fmt.Sprintf("ocm-push --shard %d/2 --input plan.jsonl --output p%d.jsonl docker://%s/full", i, i, dst.Host)); r.code != 0 {
			t.Fatalf("shard %d exit %d:\n%s", i, r.code, r.stderr)
		}
	}
	pushed := records(t, sh(t, dir, nil, "cat p0.jsonl p1.jsonl").stdout)
	if len(pushed) != len(planned) {
		t.Fatalf("shards pushed %d records, the plan has %d", len(pushed), len(planned))
	}
	var catRec *record.Record
	for _, rec := range pushed {
		if rec.Status != record.StatusPushed {
			t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
		if rec.Origin == record.OriginCatalog {
			catRec = rec
		}
	}
	if catRec == nil || catRec.Source != "oci://"+lay {
		t.Fatalf("catalog record %+v, want one read from oci://%s", catRec, lay)
	}
	byTag := dst.Host + "/full/ocm-index:v9"
	if got := skopeoDigest(t, "docker://"+byTag, "--tls-verify=false"); got != catRec.Digest {
		t.Errorf("%s is %s, want the layout's catalog %s", byTag, got, catRec.Digest)
	}
}
