package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestBlockedOffline: ocm-unpack -c applies the configuration's
// blockedImages to operator images as ocm-plan does: the blocked related
// image comes out skipped naming the rule and is not pushed; the rest of
// the operator is.
func TestBlockedOffline(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	isc := fmt.Sprintf("mirror:\n  operators:\n  - catalog: %s\n    packages:\n    - name: gamma\n", cat.Ref)
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+isc)
	writeFile(t, filepath.Join(dir, "isc-enclave.yaml"), head+isc+"  blockedImages:\n  - name: operands/gam+a\n")
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-fetch | ocm-pack --out archives > packed.jsonl"); r.code != 0 {
		t.Fatalf("m2d exit %d:\n%s", r.code, r.stderr)
	}
	var planned []string
	for _, rec := range records(t, sh(t, dir, nil, "cat packed.jsonl").stdout) {
		if rec.Status != record.StatusCached {
			t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
		planned = append(planned, rec.Source)
	}
	src.Stop()
	dst := testenv.Start(t, testenv.RegistryOptions{})
	r := sh(t, dir, nil, "ocm-unpack archives -c isc-enclave.yaml --cache far | ocm-push --cache far docker://"+dst.Host+" > pushed.jsonl")
	if r.code != 0 {
		t.Fatalf("d2m exit %d:\n%s", r.code, r.stderr)
	}
	var skipped, pushed []string
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		switch rec.Status {
		case record.StatusSkipped:
			if rec.Origin != record.OriginRelated || !strings.Contains(rec.Source, "operands/gamma") || !strings.Contains(rec.Error, `matches "operands/gam+a" (mirror.blockedImages, line`) {
				t.Errorf("skipped %s %s: %q", rec.Origin, rec.Source, rec.Error)
			}
			if rec.Target != "" {
				t.Errorf("skipped %s was pushed to %s", rec.Source, rec.Target)
			}
			skipped = append(skipped, rec.Source)
		case record.StatusPushed:
			if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
				t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
			}
			pushed = append(pushed, rec.Source)
		default:
			t.Errorf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
	}
	if len(skipped) != 1 || len(pushed)+len(skipped) != len(planned) {
		sort.Strings(planned)
		t.Fatalf("skipped %v, pushed %v of %v", skipped, pushed, planned)
	}
}
