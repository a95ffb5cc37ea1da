package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
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

// TestI24FullPackageServed: from a catalog of Red Hat's index shape (12
// packages of 100 bundles with their CSV and CRD inlined, three channels,
// entries skipping 90 versions; about 190 MB of config), one package taken
// with full: true is mirrored, and the rebuilt catalog, started with opm
// serve as a CatalogSource pod would, answers over gRPC with every bundle of
// every channel the catalog had for it, and nothing else. Planning ten of the
// twelve packages with full: true stays under 400 MiB of peak RSS.
func TestI24FullPackageServed(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a 190 MB catalog and serves a rebuilt one")
	}
	ctx := context.Background()
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	g := fixture.BigCatalog{Packages: 12, Bundles: 100, Skips: 90, Channels: 3, ObjectBytes: 160 << 10, Host: src.Host}
	const full = "pkg-0003"
	images, err := g.PushImages(ctx, fixture.Options{Host: src.Host}, []string{full})
	if err != nil {
		t.Fatal(err)
	}
	g.Images = images
	dir := t.TempDir()
	lay := filepath.Join(dir, "big-index")
	st, err := g.WriteOCILayout(lay)
	if err != nil {
		t.Fatal(err)
	}
	if st.FBCBytes < 150<<20 {
		t.Fatalf("catalog of %d bytes, want at least 150 MiB", st.FBCBytes)
	}
	t.Logf("catalog: %d MiB of config in a %d MiB layer", st.FBCBytes>>20, st.LayerBytes>>20)

	// Ten packages with full: true: peak RSS of ocm-plan as GNU time reads
	// it from wait4 (a child of this test would count the test's own RSS).
	// Only pkg-0003's images are served, so the others' records fail (exit
	// 1): the catalog is read and rebuilt all the same.
	var pkgs strings.Builder
	for p := 0; p < 10; p++ {
		fmt.Fprintf(&pkgs, "    - name: %s\n", g.PackageName(p))
	}
	writeFile(t, filepath.Join(dir, "ten.yaml"), head+fmt.Sprintf("mirror:\n  operators:\n  - catalog: oci://%s\n    targetCatalog: ocm/big-index\n    full: true\n    packages:\n%s", lay, pkgs.String()))
	start := time.Now()
	if r := sh(t, dir, nil, "/usr/bin/time -f %M -o rss.txt ocm-plan -c ten.yaml --cache cache-ten --loglevel error > ten.jsonl"); r.code != 1 {
		t.Fatalf("ocm-plan exit %d:\n%s", r.code, r.stderr)
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(sh(t, dir, nil, "tail -n1 rss.txt").stdout), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ten packages full: planned in %s, peak RSS %d MiB", time.Since(start).Round(time.Second), kib>>10)
	if kib > 400<<10 {
		t.Errorf("ocm-plan of ten full packages peaked at %d MiB, want under 400 MiB", kib>>10)
	}
	bundles, rebuilt := 0, false
	for _, rec := range records(t, sh(t, dir, nil, "cat ten.jsonl").stdout) {
		switch rec.Origin {
		case record.OriginBundle:
			bundles++
		case record.OriginCatalog:
			rebuilt = rec.Status == record.StatusPlanned && rec.BuiltFrom != ""
		}
	}
	if !rebuilt {
		t.Error("ten full packages: no rebuilt catalog planned")
	}
	if bundles != 10*g.Bundles {
		t.Errorf("ten full packages planned %d bundles, want %d", bundles, 10*g.Bundles)
	}

	// One full package mirrored and served.
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf("mirror:\n  operators:\n  - catalog: oci://%s\n    targetCatalog: ocm/big-index\n    full: true\n    packages:\n    - name: %s\n", lay, full))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml --cache cache > plan.jsonl"); r.code != 0 {
		t.Fatalf("ocm-plan exit %d:\n%s", r.code, r.stderr)
	}
	if r := sh(t, dir, nil, fmt.Sprintf("ocm-push --cache cache docker://%s/mirrored < plan.jsonl > pushed.jsonl", dst.Host)); r.code != 0 {
		t.Fatalf("ocm-push exit %d:\n%s", r.code, r.stderr)
	}
	var cat *record.Record
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			t.Errorf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
		if rec.Origin == record.OriginCatalog {
			cat = rec
		}
	}
	if cat == nil {
		t.Fatal("no catalog pushed")
	}
	srv := serveCatalog(t, cat.Target[:strings.LastIndexAny(cat.Target, ":@")]+"@"+cat.Digest)
	t.Logf("rebuilt catalog of one full package: first gRPC answer after %s", srv.startup.Round(time.Millisecond))
	// What the generator made: channel c holds bundles channelStart(c)..end.
	var want []string
	for c := 0; c < g.Channels; c++ {
		ch := g.ChannelName(c)
		first := 0
		if c > 0 {
			first = c * g.Bundles / g.Channels
		}
		for i := first; i < g.Bundles; i++ {
			want = append(want, full+" "+ch+" "+g.BundleName(full, i))
		}
	}
	var got []string
	for _, b := range srv.Bundles {
		got = append(got, b.Package+" "+b.Channel+" "+b.Name)
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("served %d bundle entries, want %d (every channel's every bundle):\ngot  %.2000s\nwant %.2000s", len(got), len(want), strings.Join(got, " "), strings.Join(want, " "))
	}
	if strings.Join(srv.Packages, " ") != full {
		t.Errorf("served packages %v, want %s only", srv.Packages, full)
	}
}
