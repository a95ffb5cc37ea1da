package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Start starts a registry for the test and stops it when the test ends. A
// missing docker-registry fails the test (it never skips: CI installs it).
func Start(t testing.TB, o RegistryOptions) *Registry {
	t.Helper()
	r, err := StartRegistry(context.Background(), t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	return r
}

// StartV3 starts distribution v3's registry (program: bin/registry-v3,
// built by make tools) holding sparse indexes, for the test. Missing, the
// test is skipped locally and fails in CI (CI=true), which builds the tools.
func StartV3(t testing.TB, program string, o RegistryOptions) *Registry {
	t.Helper()
	if _, err := os.Stat(program); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found; fix: make tools", program)
		}
		t.Skipf("%s not found (distribution v3, for sparse indexes); fix: make tools", program)
	}
	o.Program, o.SparseIndexes = program, true
	return Start(t, o)
}

// Skopeo runs skopeo, the independent client tests check results with.
func Skopeo(ctx context.Context, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, "skopeo", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("skopeo %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// SkopeoDigest returns the sha256 of the raw manifest skopeo reads for ref.
func SkopeoDigest(ctx context.Context, ref string, extra ...string) (string, error) {
	args := append([]string{"inspect", "--raw"}, extra...)
	out, err := exec.CommandContext(ctx, "skopeo", append(args, ref)...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("skopeo inspect --raw %s: %v: %s", ref, err, msg)
	}
	s := sha256.Sum256(out)
	return "sha256:" + hex.EncodeToString(s[:]), nil
}
