package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/deletion"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestDeleteReleasesAndOperators mirrors releases 4.14.1-4.14.3 and two
// operators, then deletes 4.14.2, 4.14.3 and the gamma operator, keeping
// 4.14.1 and aqua. In the fixture a component changes every third release:
// 4.14.1 and 4.14.2 share all their components (same digests), 4.14.3 shares
// none. So 4.14.2's components must stay (4.14.1 needs them), 4.14.3's go.
func TestDeleteReleasesAndOperators(t *testing.T) {
	src, rs, graphURL := releaseEnv(t, fixture.ReleaseOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096, Opm: tool(t, "opm")})
	if err != nil {
		t.Fatal(err)
	}
	dst := testenv.Start(t, testenv.RegistryOptions{})
	target := "docker://" + dst.Host
	env := []string{"UPDATE_URL_OVERRIDE=" + graphURL}
	dir := t.TempDir()
	platform := func(min, max string) string {
		return fmt.Sprintf("  platform:\n    architectures: [amd64]\n    channels:\n    - name: stable-4.14\n      minVersion: %s\n      maxVersion: %s\n", min, max)
	}
	operators := func(pkgs ...string) string {
		s := fmt.Sprintf("  operators:\n  - catalog: %s\n    packages:\n", cat.Ref)
		for _, p := range pkgs {
			s += "    - name: " + p + "\n"
		}
		return s
	}
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n"+platform("4.14.1", "4.14.3")+operators("aqua", "gamma"))
	writeFile(t, filepath.Join(dir, "keep.yaml"), head+"mirror:\n"+platform("4.14.1", "4.14.1")+operators("aqua"))
	writeFile(t, filepath.Join(dir, "delete.yaml"), "kind: DeleteImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\ndelete:\n"+platform("4.14.2", "4.14.3")+operators("gamma"))

	if r := sh(t, dir, env, "ocm-plan -c isc.yaml --cache cache | ocm-push --cache cache "+target+" > pushed.jsonl"); r.code != 0 {
		t.Fatalf("mirror exit %d", r.code)
	}
	pushed := records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout)
	for _, r := range pushed {
		if r.Origin == record.OriginCatalog {
			if got := strings.Join(serveCatalog(t, r.Target+"@"+r.Digest).Packages, " "); got != "aqua gamma" {
				t.Fatalf("the mirrored catalog serves %s, want aqua gamma", got)
			}
		}
	}

	// What must go and what must stay, from the fixture's facts alone.
	needed141 := map[string]bool{}
	for _, c := range rs.Components["4.14.1"] {
		needed141[c.Digest] = true
	}
	// A related image goes only when gamma alone uses it.
	relatedUsers := map[string]map[string]bool{}
	for _, r := range pushed {
		if r.Origin == record.OriginRelated {
			if relatedUsers[r.Digest] == nil {
				relatedUsers[r.Digest] = map[string]bool{}
			}
			relatedUsers[r.Digest][r.Package] = true
		}
	}
	goes := func(r *record.Record) bool {
		switch r.Origin {
		case record.OriginRelease:
			return r.Release == "4.14.2" || r.Release == "4.14.3"
		case record.OriginReleaseComponent:
			return !needed141[r.Digest]
		case record.OriginBundle:
			return r.Package == "gamma"
		case record.OriginRelated:
			u := relatedUsers[r.Digest]
			return len(u) == 1 && u["gamma"]
		}
		return false // the catalog image stays: packages were listed
	}
	var gone, shared, kept int
	for _, r := range pushed {
		if r.Status != record.StatusPushed {
			t.Fatalf("%s: %s %s", r.Source, r.Status, r.Error)
		}
		switch {
		case goes(r):
			gone++
		case r.Origin == record.OriginReleaseComponent && r.Release == "4.14.2":
			shared++
		default:
			kept++
		}
	}
	if gone == 0 || shared != 20 || kept == 0 {
		t.Fatalf("fixture not as expected: %d to delete, %d shared components, %d kept", gone, shared, kept)
	}

	// Without the kept set, the list says which entries other tags still name.
	if r := sh(t, dir, env, "ocm-plan -c delete.yaml | ocm-delete --generate --workspace plain "+target); r.code != 0 {
		t.Fatalf("generate exit %d", r.code)
	}
	l, err := deletion.Read(filepath.Join(dir, "plain", "delete", "delete-images.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	warned := 0
	for _, it := range l.Items {
		if needed141[it.Digest] && strings.Contains(strings.Join(it.SharedWith, " "), ":4.14.1-") {
			warned++
		}
	}
	if warned != 20 {
		t.Errorf("%d of 20 components shared with 4.14.1 are flagged sharedWith in the list", warned)
	}

	// With --keep, nothing the kept set needs is listed.
	if r := sh(t, dir, env, "ocm-plan -c delete.yaml | ocm-delete --generate --keep keep.yaml --workspace ws "+target); r.code != 0 {
		t.Fatalf("generate --keep exit %d", r.code)
	}
	if l, err = deletion.Read(filepath.Join(dir, "ws", "delete", "delete-images.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, it := range l.Items {
		if needed141[it.Digest] {
			t.Errorf("a manifest 4.14.1 needs is listed: %+v", it)
		}
	}
	if r := sh(t, dir, nil, "ocm-delete --delete-yaml-file ws/delete/delete-images.yaml "+target); r.code != 0 {
		t.Fatalf("delete exit %d", r.code)
	}

	ctx := context.Background()
	for _, r := range pushed {
		byDigest := "docker://" + dst.Host + "/" + strings.SplitN(strings.TrimPrefix(r.Target, dst.Host+"/"), ":", 2)[0] + "@" + r.Digest
		if i := strings.LastIndex(r.Target, "@"); i >= 0 {
			byDigest = "docker://" + r.Target
		}
		if goes(r) {
			if _, err := testenv.SkopeoDigest(ctx, byDigest, "--tls-verify=false"); err == nil {
				t.Errorf("%s (%s %s%s) is still in the mirror", byDigest, r.Origin, r.Release, r.Package)
			}
			continue
		}
		got, err := testenv.SkopeoDigest(ctx, "docker://"+r.Target, "--tls-verify=false")
		if err != nil || got != r.Digest {
			t.Errorf("%s (%s %s%s) should stay with %s: got %q, %v", r.Target, r.Origin, r.Release, r.Package, r.Digest, got, err)
		}
	}
	t.Logf("%d manifests deleted as listed; %d shared components and %d other images stay", len(l.Items), shared, kept)
}
