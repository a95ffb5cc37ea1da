package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/catalog"
	"github.com/ocm-mirror/ocm/lib/imagefs"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestI24CatalogAboveOldCap: a catalog shaped like Red Hat's index (50
// packages of 100 bundles, each bundle with its CSV and CRD inlined, entries
// skipping 90 versions) with more than 1 GiB of declarative config, in a
// local layout, is planned: exactly the bundles and related images the
// configuration selects, and a rebuilt catalog of exactly those bundles
// that opm validates.
func TestI24CatalogAboveOldCap(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and plans a 1.2 GB catalog")
	}
	ctx := context.Background()
	reg := testenv.Start(t, testenv.RegistryOptions{})
	g := fixture.BigCatalog{Packages: 50, Bundles: 100, Skips: 90, Channels: 3, ObjectBytes: 230 << 10, Host: reg.Host}
	images, err := g.PushImages(ctx, fixture.Options{Host: reg.Host}, []string{"pkg-0000", "pkg-0001", "pkg-0002"})
	if err != nil {
		t.Fatal(err)
	}
	g.Images = images
	dir := t.TempDir()
	lay := filepath.Join(dir, "big-index")
	start := time.Now()
	st, err := g.WriteOCILayout(lay)
	if err != nil {
		t.Fatal(err)
	}
	if st.FBCBytes <= 1<<30 {
		t.Fatalf("catalog of %d bytes, want more than 1 GiB", st.FBCBytes)
	}
	t.Logf("catalog: %d MiB of config in a %d MiB layer, written in %s", st.FBCBytes>>20, st.LayerBytes>>20, time.Since(start).Round(time.Second))
	ch := g.ChannelName(1)
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf(`mirror:
  operators:
  - catalog: oci://%s
    targetCatalog: ocm/big-index
    packages:
    - name: pkg-0000
    - name: pkg-0001
      defaultChannel: %s
      channels:
      - name: %s
        minVersion: 1.90.0
    - name: pkg-0002
      bundles:
      - name: pkg-0002.v1.5.0
      - name: pkg-0002.v1.50.0
`, lay, ch, ch))
	start = time.Now()
	r := sh(t, dir, nil, "ocm-plan -c isc.yaml --cache cache > plan.jsonl")
	if r.code != 0 {
		t.Fatalf("ocm-plan exit %d:\n%s", r.code, r.stderr)
	}
	t.Logf("planned in %s", time.Since(start).Round(time.Second))

	// What the configuration selects, by bundle index.
	want := map[string][]int{"pkg-0000": {99}, "pkg-0002": {5, 50}}
	for i := 90; i < 100; i++ {
		want["pkg-0001"] = append(want["pkg-0001"], i)
	}
	wantRecs := map[string]bool{}
	wantBundles := map[string]map[string]bool{}
	for pkg, is := range want {
		wantBundles[pkg] = map[string]bool{}
		for _, i := range is {
			bn := g.BundleName(pkg, i)
			wantBundles[pkg][bn] = true
			img, rel := g.Image(pkg, i)
			wantRecs[string(record.OriginBundle)+" "+bn+" "+img] = true
			for _, ri := range rel[1:] { // the first is the bundle image
				wantRecs[string(record.OriginRelated)+" "+ri.Image] = true
			}
		}
	}
	var got []string
	var cat *record.Record
	for _, rec := range records(t, sh(t, dir, nil, "cat plan.jsonl").stdout) {
		if rec.Status != record.StatusPlanned {
			t.Errorf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
		if rec.Origin == record.OriginCatalog {
			cat = rec
			continue
		}
		if rec.Origin == record.OriginBundle {
			got = append(got, string(rec.Origin)+" "+rec.Bundle+" "+rec.Source)
		} else {
			got = append(got, string(rec.Origin)+" "+rec.Source)
		}
	}
	sort.Strings(got)
	var wantList []string
	for k := range wantRecs {
		wantList = append(wantList, k)
	}
	sort.Strings(wantList)
	if strings.Join(got, "\n") != strings.Join(wantList, "\n") {
		t.Errorf("planned:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantList, "\n"))
	}
	if cat == nil || cat.BuiltFrom == "" {
		t.Fatalf("no rebuilt catalog record: %+v", cat)
	}

	// The rebuilt catalog holds exactly the bundles selected, and opm
	// accepts it.
	c, err := cache.Open(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := catalog.Read(ctx, c, cat.Digest)
	if err != nil {
		t.Fatal(err)
	}
	for pkg, p := range rebuilt.FBC.Packages {
		if len(p.Bundles) != len(wantBundles[pkg]) {
			t.Errorf("rebuilt %s: %d bundles, want %d", pkg, len(p.Bundles), len(wantBundles[pkg]))
		}
		for bn := range p.Bundles {
			if !wantBundles[pkg][bn] {
				t.Errorf("rebuilt %s: unselected bundle %s", pkg, bn)
			}
		}
	}
	if len(rebuilt.FBC.Packages) != len(want) {
		t.Errorf("rebuilt catalog has %d packages, want %d", len(rebuilt.FBC.Packages), len(want))
	}
	img, err := imagefs.Resolve(ctx, c, cat.Digest, "")
	if err != nil {
		t.Fatal(err)
	}
	files, err := imagefs.ReadFiles(ctx, c, img, []string{"configs"}, 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range files {
		writeFile(t, filepath.Join(dir, "rebuilt", f), string(b))
	}
	if out, err := opmValidate(t, filepath.Join(dir, "rebuilt", "configs")); err != nil {
		t.Fatalf("opm validate rejects the rebuilt catalog: %v\n%s", err, out)
	}
}
