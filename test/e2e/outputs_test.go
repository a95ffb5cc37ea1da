package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestO3SignaturesWhereverTheStagePutThem: ocm-resources finds the release
// signatures where the records' stage left them. Mirror to mirror with the
// --cache ocm-push was given (which holds no signature: push caches none)
// they come from the signature store; disk to mirror without --cache they
// come from the default cache ocm-unpack filled, with the signature store
// stopped.
func TestO3SignaturesWhereverTheStagePutThem(t *testing.T) {
	src, rs, srv := releaseEnvServer(t, fixture.ReleaseOptions{Components: 2})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  platform:\n    channels:\n    - name: stable-4.15\n      minVersion: 4.15.3\n      maxVersion: 4.15.3\n")
	env := []string{"UPDATE_URL_OVERRIDE=" + srv.URL}
	payload := rs.Payloads["4.15.3/amd64"]
	key := "sha256-" + strings.TrimPrefix(payload, "sha256:") + "-1: "
	check := func(step string, r result, res string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", step, r.code, r.stderr)
		}
		if cm := sh(t, dir, nil, "cat "+res+"/signature-configmap.yaml").stdout; !strings.Contains(cm, key) {
			t.Fatalf("%s: signature-configmap.yaml has no signature of 4.15.3 (%s):\n%s", step, payload, cm)
		}
		for _, rec := range records(t, sh(t, dir, nil, "cat "+res+".jsonl").stdout) {
			if rec.Status != record.StatusPushed {
				t.Fatalf("%s: %s: %s %s", step, rec.Source, rec.Status, rec.Error)
			}
		}
	}

	dst := testenv.Start(t, testenv.RegistryOptions{})
	check("mirror to mirror, the --cache of ocm-push", sh(t, dir, env, fmt.Sprintf("ocm-plan -c isc.yaml | ocm-push --cache pushcache docker://%s | ocm-resources --cache pushcache --out m2m > m2m.jsonl", dst.Host)), "m2m")

	if r := sh(t, dir, env, "ocm-plan -c isc.yaml | ocm-fetch --cache cache | ocm-pack --cache cache --out archives > packed.jsonl"); r.code != 0 {
		t.Fatalf("mirror to disk: exit %d", r.code)
	}
	// Across the gap: no source registry, no signature store.
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	dst2 := testenv.Start(t, testenv.RegistryOptions{})
	check("disk to mirror, the default cache", sh(t, dir, nil, fmt.Sprintf("ocm-unpack archives | ocm-push docker://%s | ocm-resources --out d2m > d2m.jsonl", dst2.Host)), "d2m")
}
