package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

func TestBadConfigurations(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body, want string
	}{
		{"unknown field", head + "mirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n    tag: x\n", `isc.yaml:6: mirror.additionalImages[0].tag: unknown field "tag"`},
		{"wrong apiVersion", "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v1alpha2\nmirror: {}\n", "isc.yaml:2: apiVersion: \"mirror.openshift.io/v1alpha2\" is not supported"},
		{"malformed YAML", head + "mirror:\n  additionalImages: x\n    name: y\n", "isc.yaml:5: malformed YAML"},
		{"bad reference", head + "mirror:\n  additionalImages:\n  - name: quay.io/a/b:bad:tag\n", "isc.yaml:5: mirror.additionalImages[0].name: bad image reference"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			writeFile(t, filepath.Join(dir, "isc.yaml"), c.body)
			r := sh(t, dir, nil, "ocm-plan -c isc.yaml")
			if r.code != 2 {
				t.Fatalf("exit %d, want 2", r.code)
			}
			if !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "fix:") {
				t.Fatalf("stderr %q lacks %q and a fix", r.stderr, c.want)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Fatalf("error is not one line: %q", r.stderr)
			}
			if r.stdout != "" {
				t.Fatalf("stdout not empty: %q", r.stdout)
			}
		})
	}
}

const head = "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n"

func TestMissingImageFailsAloneAndTravels(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set, src.Host+"/does/not-exist:1"))
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c isc.yaml > plan.jsonl; echo plan=$? >&2; ocm-push docker://%s < plan.jsonl > pushed.jsonl", dst.Host))
	if !strings.Contains(r.stderr, "plan=1") || r.code != 1 {
		t.Fatalf("plan and push should both exit 1 (plan: %v, push: %d)", strings.Contains(r.stderr, "plan=1"), r.code)
	}
	if !strings.Contains(r.stderr, "FAILED earlier "+src.Host+"/does/not-exist:1") || !strings.Contains(r.stderr, "image not found") {
		t.Fatalf("summary does not name the missing image:\n%s", r.stderr)
	}
	pushed := 0
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		switch {
		case rec.Source == src.Host+"/does/not-exist:1":
			if rec.Status != record.StatusFailed || rec.Stage != "plan" {
				t.Errorf("missing image record: %+v", rec)
			}
		case rec.Status == record.StatusPushed:
			pushed++
			if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
				t.Errorf("%s: %s", rec.Target, got)
			}
		}
	}
	if pushed != len(set.Images)-2 {
		t.Fatalf("%d pushed, want %d: the other images must still be mirrored", pushed, len(set.Images)-2)
	}
}

func TestAuthAndTLS(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{Auth: true, TLS: true})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl"); r.code != 0 {
		t.Fatalf("plan exit %d", r.code)
	}
	if err := dst.AuthFile(filepath.Join(dir, "good.json"), dst.User, dst.Pass); err != nil {
		t.Fatal(err)
	}
	const wrong = "not-the-password-42"
	if err := dst.AuthFile(filepath.Join(dir, "bad.json"), dst.User, wrong); err != nil {
		t.Fatal(err)
	}
	target := "docker://" + dst.Host + "/secure"

	t.Run("self-signed without CA", func(t *testing.T) {
		r := sh(t, dir, nil, "ocm-push --authfile good.json "+target+" < plan.jsonl > out.jsonl")
		if r.code != 1 || !strings.Contains(r.stderr, "TLS certificate not trusted") || !strings.Contains(r.stderr, "--dest-tls-verify=false") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		r := sh(t, dir, nil, "ocm-push --dest-tls-verify=false --authfile bad.json "+target+" < plan.jsonl > out.jsonl")
		if r.code != 1 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "fix: check the credentials") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		out := sh(t, dir, nil, "cat out.jsonl").stdout
		if strings.Contains(r.stderr, wrong) || strings.Contains(out, wrong) {
			t.Fatal("the password appears in the output")
		}
	})
	t.Run("missing auth", func(t *testing.T) {
		r := sh(t, dir, nil, "ocm-push --dest-tls-verify=false "+target+" < plan.jsonl > /dev/null")
		if r.code != 1 || !strings.Contains(r.stderr, "401") {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})
	t.Run("credentials and trusted CA", func(t *testing.T) {
		r := sh(t, dir, []string{"SSL_CERT_FILE=" + dst.CAFile}, "ocm-push --authfile good.json "+target+" < plan.jsonl > out.jsonl")
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		for _, rec := range records(t, sh(t, dir, nil, "cat out.jsonl").stdout) {
			if rec.Status != record.StatusPushed {
				continue
			}
			got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false", "--creds", dst.User+":"+dst.Pass)
			if got != rec.Digest {
				t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
			}
		}
	})
	t.Run("credentials from XDG_RUNTIME_DIR", func(t *testing.T) {
		xdg := filepath.Join(dir, "xdg")
		sh(t, dir, nil, "mkdir -p xdg/containers && cp good.json xdg/containers/auth.json")
		r := sh(t, dir, []string{"XDG_RUNTIME_DIR=" + xdg}, "ocm-push --dest-tls-verify=false "+target+" < plan.jsonl > /dev/null")
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
	})
}
