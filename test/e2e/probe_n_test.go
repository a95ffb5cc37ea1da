package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// N12: a signature policy, a policy's keyPath, the release keyring named by
// OCP_SIGNATURE_VERIFICATION_PK and a local Helm chart path are read with a
// cap like every other input. Before, each pointed at /dev/zero ended in a
// Go fatal out-of-memory under a memory limit.
func TestN12UnboundedReadsAreCapped(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  additionalImages:\n  - name: 127.0.0.1:1/a/b:1\n")
	writeFile(t, filepath.Join(dir, "release.yaml"), head+"mirror:\n  platform:\n    channels:\n    - name: stable-4.15\n")
	writeFile(t, filepath.Join(dir, "helm.yaml"), head+"mirror:\n  helm:\n    local:\n    - name: zero\n      path: /dev/zero\n")
	writeFile(t, filepath.Join(dir, "key-policy.json"), `{"default":[{"type":"sigstoreSigned","keyPath":"/dev/zero"}]}`)
	cases := []struct {
		name, cmd, want string
		code            int
	}{
		{"policy", "ocm-plan -c isc.yaml --secure-policy --policy /dev/zero", "/dev/zero is larger than 8 MiB", 2},
		{"policy keyPath", "ocm-plan -c isc.yaml --secure-policy --policy key-policy.json", "/dev/zero is larger than 8 MiB", 2},
		{"release keyring", "env OCP_SIGNATURE_VERIFICATION_PK=/dev/zero ocm-plan -c release.yaml", "OCP_SIGNATURE_VERIFICATION_PK=/dev/zero: /dev/zero is larger than 8 MiB", 2},
		// A chart that cannot be loaded fails the plan as any unreadable
		// local chart does (exit 1), naming the chart and the cap.
		{"helm local path", "ocm-plan -c helm.yaml --cache cache", "local chart zero (/dev/zero): /dev/zero is larger than 64 MiB", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sh(t, dir, nil, "ulimit -v 2500000; timeout 60 "+c.cmd+" > out.jsonl")
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, want %d and %q; stderr:\n%s", r.code, c.code, c.want, r.stderr)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Fatalf("error is not one line: %q", r.stderr)
			}
		})
	}
}
