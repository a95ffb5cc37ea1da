package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
)

// certsDir writes a containers-certs.d(5) host folder for r at dir: its CA,
// and its client certificate unless caOnly.
func certsDir(t *testing.T, r *testenv.Registry, dir string, caOnly bool) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"ca.crt": r.CAFile}
	if !caOnly {
		files["client.cert"], files["client.key"] = r.ClientCert, r.ClientKey
	}
	for name, from := range files {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), string(b))
	}
	return dir
}

// checkMirroredTLS checks every image of set that is not blocked is at
// host/prefix, reached with the TLS material of certDir.
func checkMirroredTLS(t *testing.T, set *fixture.Set, hostPrefix, certDir string) {
	t.Helper()
	for _, img := range set.Images {
		if strings.HasPrefix(img.Repo, "library/alpine") {
			continue // blocked by the ImageSetConfiguration
		}
		target := "docker://" + hostPrefix + "/" + img.Repo
		if img.Tag != "" {
			target += ":" + img.Tag
		} else {
			target += "@" + img.Digest
		}
		if got := skopeoDigest(t, target, "--cert-dir", certDir); got != img.Digest {
			t.Errorf("%s: mirror digest %s, source %s", target, got, img.Digest)
		}
	}
}

// TestI25MutualTLSCertsD: registries serving TLS from a private CA and
// requiring a client certificate are mirrored to, and from, with TLS
// verification on: through containers-certs.d(5) under $HOME, and through
// --src-cert-dir/--dest-cert-dir. Without them the run fails (exit 1) with
// one line naming the host and the folders looked in.
func TestI25MutualTLSCertsD(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	a := testenv.Start(t, testenv.RegistryOptions{TLS: true, ClientCA: true})
	b := testenv.Start(t, testenv.RegistryOptions{TLS: true, ClientCA: true})
	set := populate(t, src)
	dir := t.TempDir() // also $HOME of every command
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl"); r.code != 0 {
		t.Fatalf("plan exit %d", r.code)
	}
	homeA := filepath.Join(dir, ".config", "containers", "certs.d", a.Host)
	push := "ocm-push docker://" + a.Host + "/a < plan.jsonl > pushed.jsonl"

	t.Run("no certs.d folder", func(t *testing.T) {
		r := sh(t, dir, nil, push)
		if r.code != 1 || !strings.Contains(r.stderr, a.Host+": TLS certificate not trusted") ||
			!strings.Contains(r.stderr, homeA) || !strings.Contains(r.stderr, "/etc/containers/certs.d/"+a.Host) || !strings.Contains(r.stderr, "/etc/docker/certs.d/"+a.Host) {
			t.Fatalf("exit %d, want 1 and the host and the folders looked in; stderr:\n%s", r.code, r.stderr)
		}
	})
	t.Run("CA without client certificate", func(t *testing.T) {
		certsDir(t, a, homeA, true)
		r := sh(t, dir, nil, push)
		if r.code != 1 || !strings.Contains(r.stderr, a.Host+": TLS handshake refused") || !strings.Contains(r.stderr, "used "+homeA) {
			t.Fatalf("exit %d, want 1 and the client certificate asked for in %s; stderr:\n%s", r.code, homeA, r.stderr)
		}
	})
	t.Run("client certificate without key", func(t *testing.T) {
		certsDir(t, a, homeA, false)
		if err := os.Remove(filepath.Join(homeA, "client.key")); err != nil {
			t.Fatal(err)
		}
		r := sh(t, dir, nil, push)
		if r.code != 2 || !strings.Contains(r.stderr, filepath.Join(homeA, "client.cert")+": client certificate without its key") || !strings.Contains(r.stderr, "fix: ") {
			t.Fatalf("exit %d, want 2 naming the certificate and the fix; stderr:\n%s", r.code, r.stderr)
		}
	})
	t.Run("mirror to mirror through certs.d under HOME", func(t *testing.T) {
		certsDir(t, a, homeA, false)
		if r := sh(t, dir, nil, push); r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		checkMirroredTLS(t, set, a.Host+"/a", homeA)
	})
	certsB := certsDir(t, b, filepath.Join(dir, "b-certs"), false)
	t.Run("disk to mirror through --dest-cert-dir", func(t *testing.T) {
		r := sh(t, dir, nil, "ocm-fetch --cache cache < plan.jsonl | ocm-pack --cache cache --out archives > /dev/null && "+
			"ocm-unpack archives --cache far | ocm-push --cache far --dest-cert-dir b-certs docker://"+b.Host+"/d > pushed-d.jsonl")
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		checkMirroredTLS(t, set, b.Host+"/d", certsB)
		// The same without the flag: B has no folder under HOME.
		r = sh(t, dir, nil, "ocm-unpack archives --cache far2 | ocm-push --cache far2 docker://"+b.Host+"/d2 > /dev/null")
		if r.code != 1 || !strings.Contains(r.stderr, b.Host+": TLS certificate not trusted") || !strings.Contains(r.stderr, filepath.Join(dir, ".config", "containers", "certs.d", b.Host)) {
			t.Fatalf("exit %d, want 1 naming %s and the folders; stderr:\n%s", r.code, b.Host, r.stderr)
		}
	})
	t.Run("mirror to mirror through --src-cert-dir and --dest-cert-dir", func(t *testing.T) {
		// Another HOME, without certs.d: only the flags give the TLS material.
		home := t.TempDir()
		certsA := certsDir(t, a, filepath.Join(dir, "a-certs"), false)
		writeFile(t, filepath.Join(dir, "isc-a.yaml"), additionalISC(a.Host+"/a", set))
		env := []string{"HOME=" + home}
		if r := sh(t, dir, env, "ocm-plan -c isc-a.yaml > plan-a.jsonl"); r.code != 1 || !strings.Contains(r.stderr, a.Host+": TLS certificate not trusted") {
			t.Fatalf("plan without --src-cert-dir: exit %d, want 1; stderr:\n%s", r.code, r.stderr)
		}
		r := sh(t, dir, env, fmt.Sprintf("ocm-plan --src-cert-dir %s -c isc-a.yaml | ocm-push --src-cert-dir %s --dest-cert-dir %s docker://%s/m > pushed-m.jsonl", certsA, certsA, certsB, b.Host))
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		checkMirroredTLS(t, set, b.Host+"/m/a", certsB)
	})
}
