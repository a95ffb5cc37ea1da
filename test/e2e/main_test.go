// Package e2e runs ocm's commands as a user does: built binaries chained with
// shell pipes, against real registries started on 127.0.0.1, checked with
// skopeo (an independent client).
package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/record"
)

var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// e2e tests need real registries; -short runs unit tests only.
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "ocm-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../cmd/...")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building commands:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result of one shell pipeline.
type result struct {
	stdout, stderr string
	code           int
}

// sh runs script with bin/ first on PATH, in dir, with extra env.
func sh(t *testing.T, dir string, env []string, script string) result {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "bash", "-c", "set -o pipefail; "+script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
	// No credentials from the developer's machine leak into tests.
	cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+dir, "HOME="+dir, "REGISTRY_AUTH_FILE=")
	// The default cache is HOME/.cache/ocm: one per test directory.
	cmd.Env = append(cmd.Env, "XDG_CACHE_HOME=", "OC_MIRROR_CACHE=", "CONTAINERS_REGISTRIES_CONF=")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %q: %v", script, err)
	}
	t.Logf("$ %s\n(exit %d)\n%s", script, code, errb.String())
	return result{out.String(), errb.String(), code}
}

func records(t *testing.T, s string) []*record.Record {
	t.Helper()
	recs, err := record.ReadAll(strings.NewReader(s), "stdout")
	if err != nil {
		t.Fatalf("output is not records: %v\n%s", err, s)
	}
	return recs
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var movedRe = regexp.MustCompile(`moved (.+?) in (\d+) blobs`)

// blobsMoved reads the blob count from a stage's summary line.
func blobsMoved(t *testing.T, stderr string) int {
	t.Helper()
	m := movedRe.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line in stderr:\n%s", stderr)
	}
	n, _ := strconv.Atoi(m[2])
	return n
}

func bytesMovedText(t *testing.T, stderr string) string {
	t.Helper()
	m := movedRe.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line in stderr:\n%s", stderr)
	}
	return m[1]
}

// pushedCatalog reads the records in dir/file, fails the test unless every
// one was pushed, and returns the catalog's record.
func pushedCatalog(t *testing.T, dir, file string) *record.Record {
	t.Helper()
	var cat *record.Record
	for _, rec := range records(t, sh(t, dir, nil, "cat "+file).stdout) {
		if rec.Status != record.StatusPushed {
			t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
		if rec.Origin == record.OriginCatalog {
			cat = rec
		}
	}
	if cat == nil {
		t.Fatal("no catalog record")
	}
	return cat
}
