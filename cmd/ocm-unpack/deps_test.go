package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestI27UnpackLinksNoKubernetes: the enclave side selects records offline
// (lib/selection) and must not drag in the planner, which links the
// Kubernetes and catalog libraries.
func TestI27UnpackLinksNoKubernetes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var bad []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "k8s.io/") || p == "github.com/ocm-mirror/ocm/lib/plan" || p == "github.com/ocm-mirror/ocm/lib/catalog" {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("ocm-unpack links %d packages it must not: %s", len(bad), strings.Join(bad, " "))
	}
}
