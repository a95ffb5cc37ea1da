package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// build compiles pkgs (the demo is ".", the ocm commands "../../cmd/...")
// into one folder, as make build and go run do.
func build(t *testing.T, pkgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-o", dir+"/", pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir
}

func runDemo(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "demo"), args...)
	// No credentials from the developer's machine reach the commands: with
	// REGISTRY_AUTH_FILE dropped, they look only under an empty HOME.
	home := t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_AUTH_FILE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+home, "XDG_RUNTIME_DIR="+home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("running the demo: %v", err)
	return "", 0
}

// TestDemo runs the demo program as make demo does (shorter output) and
// checks what it claims with other judges: the mirror it leaves, started
// again, read by skopeo; the resources decoded strictly into the API types
// a cluster reads them with.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts registries")
	}
	bin := build(t, "../../cmd/...", ".")
	out := filepath.Join(t.TempDir(), "demo-out")
	log, code := runDemo(t, bin, "--bin", bin, "--out", out, "--brief")
	t.Logf("demo output:\n%s", log)
	if code != 0 {
		t.Fatalf("demo: exit %d", code)
	}
	// The story's key lines.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`stopped the source registry \(127\.0\.0\.1:\d+\) and the graph and signature server`),
		regexp.MustCompile(`Helm chart repository http://127\.0\.0\.1:\d+/charts \(index\.yaml and packaged charts\): chart hello 1\.0\.0`),
		regexp.MustCompile(`ocm-pack \[INFO\] wrote archives/mirror_000001\.tar: \d+ blobs, \d+ bytes`),
		regexp.MustCompile(`ocm-push: moved 0 B in 0 blobs`),
		regexp.MustCompile(`(?m)^\s+\d+ match$`),
		regexp.MustCompile(`everything is in ` + regexp.QuoteMeta(out)),
	} {
		if !want.MatchString(log) {
			t.Errorf("the demo's output lacks %s", want)
		}
	}

	f, err := os.Open(filepath.Join(out, "pushed.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := record.ReadAll(f, "pushed.jsonl")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	origins := map[record.Origin]int{}
	payloads := map[string]bool{}
	var pushed []*record.Record
	blocked := 0
	for _, r := range all {
		if strings.Contains(r.Source, "/library/alpine") {
			if r.Status != record.StatusSkipped {
				t.Errorf("blocked image %s: %s, want skipped", r.Source, r.Status)
			}
			blocked++
			continue
		}
		if r.Status != record.StatusPushed {
			t.Fatalf("%s: %s %s", r.Source, r.Status, r.Error)
		}
		pushed = append(pushed, r)
		origins[r.Origin]++
		if r.Origin == record.OriginRelease {
			payloads[r.Digest] = true
		}
	}
	for _, o := range []record.Origin{record.OriginRelease, record.OriginCatalog, record.OriginAdditional, record.OriginGraph, record.OriginReleaseComponent, record.OriginBundle, record.OriginRelated, record.OriginHelm} {
		if origins[o] == 0 {
			t.Errorf("no %s image pushed (%v)", o, origins)
		}
	}
	if blocked != 1 {
		t.Errorf("%d records of the blocked library/alpine, want 1 (skipped)", blocked)
	}
	if len(payloads) != 2 {
		t.Errorf("%d release payloads pushed, want 2 (4.15.2, 4.15.3)", len(payloads))
	}

	// The mirror the demo leaves, started again on its own storage (on
	// another port), holds every pushed tag at its digest.
	oldHost, _, _ := strings.Cut(pushed[0].Target, "/")
	mirror, err := testenv.StartRegistry(context.Background(), filepath.Join(out, "mirror-registry"), testenv.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer mirror.Stop()
	for _, r := range pushed {
		ref := "docker://" + mirror.Host + strings.TrimPrefix(r.Target, oldHost)
		got, err := testenv.SkopeoDigest(context.Background(), ref, "--tls-verify=false")
		if err != nil || got != r.Digest {
			t.Errorf("%s: %s %v, want %s", ref, got, err, r.Digest)
		}
	}

	// The Helm chart's images (its Deployment's container and init
	// container, and the reference only imagePaths finds) are on the mirror
	// at the digests the source registry, started again on its own storage,
	// gives for them: names and digests come from the two registries, not
	// from the records.
	source, err := testenv.StartRegistry(context.Background(), filepath.Join(out, "source-registry"), testenv.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer source.Stop()
	for _, img := range []string{"nested/a/b/c/deep:1.0", "docker/list:v1", "ubi9/ubi:9.4"} {
		want, err := testenv.SkopeoDigest(context.Background(), "docker://"+source.Host+"/"+img, "--tls-verify=false")
		if err != nil {
			t.Fatalf("source %s: %v", img, err)
		}
		got, err := testenv.SkopeoDigest(context.Background(), "docker://"+mirror.Host+"/ocp/"+img, "--tls-verify=false")
		if err != nil || got != want {
			t.Errorf("chart image %s on the mirror: %s %v, want %s", img, got, err, want)
		}
	}
	if origins[record.OriginHelm] != 3 {
		t.Errorf("%d images of origin helm pushed, want the chart's 3", origins[record.OriginHelm])
	}

	// The resources, read as a cluster reads them.
	res := filepath.Join(out, "resources")
	strict := func(file string, v any) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(res, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(b), "\n---\n") {
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
		}
	}
	var idms configv1.ImageDigestMirrorSet
	strict("idms-oc-mirror.yaml", &idms)
	var itms configv1.ImageTagMirrorSet
	strict("itms-oc-mirror.yaml", &itms)
	var cs operatorsv1alpha1.CatalogSource
	strict("cs-ocm-index-v1.yaml", &cs)
	if !strings.HasPrefix(cs.Spec.Image, oldHost+"/ocp/catalogs/ocm-index") || cs.Spec.SourceType != operatorsv1alpha1.SourceTypeGrpc {
		t.Errorf("CatalogSource names %s (%s)", cs.Spec.Image, cs.Spec.SourceType)
	}
	var cm corev1.ConfigMap
	strict("signature-configmap.yaml", &cm)
	for d := range payloads {
		if _, ok := cm.BinaryData["sha256-"+strings.TrimPrefix(d, "sha256:")+"-1"]; !ok {
			t.Errorf("the signature ConfigMap has no signature of payload %s (keys %d)", d, len(cm.BinaryData))
		}
	}
	us, err := os.ReadFile(filepath.Join(res, "updateService.yaml"))
	if err != nil || !strings.Contains(string(us), "graphDataImage: "+oldHost+"/ocp/openshift/graph-image:latest") {
		t.Errorf("updateService.yaml: %v\n%s", err, us)
	}
}

// TestDemoRefuses: bad flags and a folder the demo did not make end with
// exit 2 and a line saying what to do; the folder is left as it was.
func TestDemoRefuses(t *testing.T) {
	// The demo refuses before it runs any command: empty files stand in
	// for them.
	bin := build(t, ".")
	for _, c := range []string{"ocm-plan", "ocm-fetch", "ocm-pack", "ocm-unpack", "ocm-push", "ocm-resources"} {
		if err := os.WriteFile(filepath.Join(bin, c), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	foreign := t.TempDir()
	keep := filepath.Join(foreign, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no commands", []string{"--bin", t.TempDir(), "--out", filepath.Join(t.TempDir(), "x")}, "fix: make build"},
		{"foreign folder", []string{"--bin", bin, "--out", foreign}, "no earlier demo made it; fix: name a new or empty folder"},
		{"stray argument", []string{"--bin", bin, "now"}, `unexpected argument "now"`},
		{"unknown flag", []string{"--fast"}, "flag provided but not defined: -fast"},
	} {
		t.Run(c.name, func(t *testing.T) {
			log, code := runDemo(t, bin, c.args...)
			if code != 2 || !strings.Contains(log, c.want) {
				t.Fatalf("exit %d, want 2 with %q:\n%s", code, c.want, log)
			}
		})
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Fatalf("the foreign folder was touched: %v %q", err, b)
	}
}
