package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
)

func testOptions(out string) Options {
	return Options{Out: out, Module: "../..", CABundle: "/etc/ssl/certs/ca-certificates.crt", Arch: "amd64",
		Version: "v0.0.0-test", Revision: "0123456789abcdef", Source: "https://example.com/ocm", Tag: "test", Epoch: 1700000000}
}

// The image is built twice from scratch (go build included) and must have
// one digest; then its files are unpacked and the commands in it run a real
// plan and push, as the image's non-root user.
func TestImageIsReproducibleAndRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the commands twice and starts registries")
	}
	ctx := context.Background()
	tmp := t.TempDir()
	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	da, err := Make(ctx, testOptions(a))
	if err != nil {
		t.Fatal(err)
	}
	db, err := Make(ctx, testOptions(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("digests: %s, %s", da, db)
	if da != db {
		t.Fatalf("two builds, two digests: %s and %s", da, db)
	}

	// skopeo, not our code, reads the layout and the config.
	out, err := testenv.Skopeo(ctx, "inspect", "--config", "oci:"+a+":test")
	if err != nil {
		t.Fatal(err)
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(out, &cf); err != nil {
		t.Fatal(err)
	}
	uid, err := strconv.Atoi(strings.Split(cf.Config.User, ":")[0])
	if err != nil || uid == 0 {
		t.Errorf("image user %q: want a numeric non-root uid", cf.Config.User)
	}
	if cf.Config.Labels["org.opencontainers.image.version"] != "v0.0.0-test" || cf.Created.Unix() != 1700000000 {
		t.Errorf("labels %v, created %v: version or SOURCE_DATE_EPOCH not applied", cf.Config.Labels, cf.Created)
	}

	root := extract(t, a)
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), fmt.Sprintf(":%d:%d:", uid, uid)) {
		t.Errorf("/etc/passwd has no entry for uid %d: %q (%v)", uid, passwd, err)
	}
	ca, err := os.ReadFile(filepath.Join(root, CertFile))
	if err != nil {
		t.Fatalf("no CA bundle in the image: %v", err)
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(ca) {
		t.Error("the image's CA bundle holds no certificate")
	}
	if !envHas(cf.Config.Env, "SSL_CERT_FILE="+CertFile) {
		t.Errorf("Env %v lacks SSL_CERT_FILE", cf.Config.Env)
	}

	bin := filepath.Join(root, BinDir)
	help := runAs(t, uid, root, root, bin+"/ocm-plan", "--help")
	if !strings.Contains(help, "usage: ocm-plan") {
		t.Errorf("ocm-plan --help from the image printed %q", help)
	}

	// One real plan and push with the image's commands.
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set, err := fixture.Generate(ctx, fixture.Options{Host: src.Host}, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(root, Home) // the image's WorkingDir, the user's own
	isc := "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n"
	for _, img := range set.Images {
		isc += fmt.Sprintf("  - name: %s/%s:%s\n", src.Host, img.Repo, img.Tag)
	}
	if err := os.WriteFile(filepath.Join(work, "isc.yaml"), []byte(isc), 0o644); err != nil {
		t.Fatal(err)
	}
	runAs(t, uid, root, work, bin+"/ocm-plan", "-c", "isc.yaml", "--output", "plan.jsonl")
	runAs(t, uid, root, work, bin+"/ocm-push", "--input", "plan.jsonl", "--output", "pushed.jsonl", "docker://"+dst.Host+"/mirror")
	for _, img := range set.Images {
		got, err := testenv.SkopeoDigest(ctx, fmt.Sprintf("docker://%s/mirror/%s:%s", dst.Host, img.Repo, img.Tag), "--tls-verify=false")
		if err != nil || got != img.Digest {
			t.Errorf("%s in the mirror: %s (%v), want %s", img.Repo, got, err, img.Digest)
		}
	}

	// --push sends the same image.
	target, err := ParsePush("docker://"+dst.Host+"/ocm/ocm:test", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := Push(ctx, a, target); err != nil {
		t.Fatal(err)
	}
	if got, err := testenv.SkopeoDigest(ctx, "docker://"+dst.Host+"/ocm/ocm:test", "--tls-verify=false"); err != nil || got != da {
		t.Errorf("pushed image: %s (%v), want %s", got, err, da)
	}
}

func envHas(env []string, kv string) bool {
	for _, e := range env {
		if e == kv {
			return true
		}
	}
	return false
}

// extract unpacks the layout's single layer into a new directory, with the
// layer's modes and owners.
func extract(t *testing.T, dir string) string {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("layout index: %v, %d images", err, len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v, %d", err, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	root, err := os.MkdirTemp("", "mkimage-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, tr); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: unexpected entry type %c", h.Name, h.Typeflag)
		}
		if err := os.Chmod(p, os.FileMode(h.Mode&0o777)|modeBits(h.Mode)); err != nil {
			t.Fatal(err)
		}
		if os.Getuid() == 0 {
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func modeBits(m int64) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// runAs runs a command from the image as uid when the test runs as root
// (so the binaries must work for a user who owns nothing but its home), and
// returns its stdout; a failure fails the test.
func runAs(t *testing.T, uid int, root, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + filepath.Dir(name), "HOME=" + dir, "SSL_CERT_FILE=" + filepath.Join(root, CertFile)}
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("%s %s:\n%s", filepath.Base(name), strings.Join(args, " "), stderr.String())
	return stdout.String() + stderr.String()
}
