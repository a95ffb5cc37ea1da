package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
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

// N13: a named pipe where a blob should be, in an oci:// catalog layout or
// in a cache, is refused naming the file within a bounded time. Before,
// opening it blocked in the kernel: ocm-plan hung and ignored SIGTERM.
func TestN13NamedPipeBlob(t *testing.T) {
	// pipeFor replaces the blob digest under dir by a named pipe.
	pipeFor := func(t *testing.T, dir, digest string) string {
		p := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// check runs script with a deadline: the command must end on its own,
	// failing with want and the pipe's path in stderr or the records.
	check := func(t *testing.T, dir, script string, code int, pipe string) {
		start := time.Now()
		r := sh(t, dir, nil, "timeout -s KILL 60 "+script)
		if r.code != code || time.Since(start) > 45*time.Second {
			t.Fatalf("exit %d after %s, want %d at once\n%s", r.code, time.Since(start), code, r.stderr)
		}
		out := r.stderr + sh(t, dir, nil, "cat out.jsonl").stdout
		// The path as the user gave the directory (relative or absolute).
		rel := filepath.Join(filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(pipe)))), "blobs", "sha256", filepath.Base(pipe))
		if !strings.Contains(out, rel+": blob sha256:") || !strings.Contains(out, "is a named pipe, not a regular file; fix: ") {
			t.Fatalf("no error names the pipe %s:\n%s", pipe, out)
		}
	}

	t.Run("oci catalog layout", func(t *testing.T) {
		dir := t.TempDir()
		lay := filepath.Join(dir, "layout")
		p, err := layout.Write(lay, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		img, err := random.Image(1024, 1)
		if err == nil {
			err = p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"}))
		}
		if err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		d, err := layers[0].Digest()
		if err != nil {
			t.Fatal(err)
		}
		pipe := pipeFor(t, lay, d.String())
		writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  operators:\n  - catalog: oci://"+lay+"\n    full: true\n")
		check(t, dir, "ocm-plan -c isc.yaml --cache cache > out.jsonl", 1, pipe)
	})

	t.Run("cache", func(t *testing.T) {
		src := testenv.Start(t, testenv.RegistryOptions{})
		dst := testenv.Start(t, testenv.RegistryOptions{})
		set := populate(t, src)
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
		if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl && ocm-fetch --cache cache < plan.jsonl > fetched.jsonl"); r.code != 0 {
			t.Fatalf("plan|fetch: exit %d\n%s", r.code, r.stderr)
		}
		legacy, _ := set.ByRepo("docker/legacy")
		var m struct{ Layers []struct{ Digest string } }
		if err := json.Unmarshal([]byte(sh(t, dir, nil, "cat cache/blobs/sha256/"+legacy.Digest[7:]).stdout), &m); err != nil || len(m.Layers) != 1 {
			t.Fatalf("legacy manifest: %v", err)
		}
		pipe := pipeFor(t, filepath.Join(dir, "cache"), m.Layers[0].Digest)
		check(t, dir, "ocm-push --cache cache docker://"+dst.Host+"/m < fetched.jsonl > out.jsonl", 1, pipe)
	})
}

// N8: ocm-resources refuses the outputs of a sharded push that do not cover
// the plan exactly once (pods given different N, one index twice, one index
// missing), naming what is missing or doubled; before, it wrote resources for
// part of the image set and exited 0. Every part's output, each once, passes.
func TestN8ShardMisuseIsRefused(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	script := "ocm-plan -c isc.yaml --output plan.jsonl"
	for _, p := range []string{"0/3", "1/3", "2/3", "0/2"} {
		script += fmt.Sprintf(" && ocm-push --shard %s --input plan.jsonl --output p%s.jsonl docker://%s/m", p, strings.ReplaceAll(p, "/", "of"), dst.Host)
	}
	if r := sh(t, dir, nil, script); r.code != 0 {
		t.Fatalf("plan and pushes: exit %d\n%s", r.code, r.stderr)
	}
	for _, p := range []string{"0of3", "1of3", "2of3"} {
		if len(records(t, sh(t, dir, nil, "cat p"+p+".jsonl").stdout)) == 0 {
			t.Fatalf("part %s is empty: the cases below need three non-empty parts", p)
		}
	}
	for _, tt := range []struct {
		name, parts string
		want        []string // none: complete
	}{
		{"every part once", "p0of3 p1of3 p2of3", nil},
		{"different N", "p0of2 p1of3 p2of3", []string{"parts split with different N (0/2, 1/3, 2/3)"}},
		{"same index twice", "p0of3 p0of3 p1of3", []string{"given more than once", "missing", "no output of part 2/3"}},
		{"index missing", "p0of3 p2of3", []string{"missing", "no output of part 1/3"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files := ""
			for _, p := range strings.Fields(tt.parts) {
				files += " " + p + ".jsonl"
			}
			r := sh(t, dir, nil, "cat"+files+" | ocm-resources --out res-"+strings.ReplaceAll(tt.name, " ", "-")+" > /dev/null")
			if tt.want == nil {
				if r.code != 0 {
					t.Fatalf("a complete set: exit %d\n%s", r.code, r.stderr)
				}
				return
			}
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			for _, w := range append(tt.want, "do not cover the plan exactly once", "; fix: ") {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("error is not one line: %q", r.stderr)
			}
		})
	}
}

// A byte flipped in place in a cached layer keeps its size: a rerun of
// ocm-fetch (sizes only) moves nothing and leaves it; ocm-fetch --verify
// hashes the cached blobs, drops the damaged one and fetches it again.
func TestFetchVerifyRefetchesFlippedBlob(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl && ocm-fetch --cache cache < plan.jsonl > /dev/null"); r.code != 0 {
		t.Fatalf("plan|fetch: exit %d\n%s", r.code, r.stderr)
	}
	legacy, _ := set.ByRepo("docker/legacy")
	var m struct{ Layers []struct{ Digest string } }
	if err := json.Unmarshal([]byte(sh(t, dir, nil, "cat cache/blobs/sha256/"+legacy.Digest[7:]).stdout), &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("legacy manifest: %v", err)
	}
	layer := m.Layers[0].Digest
	blob := filepath.Join(dir, "cache", "blobs", "sha256", layer[7:])
	intact := func() bool {
		b, err := os.ReadFile(blob)
		s := sha256.Sum256(b)
		return err == nil && "sha256:"+hex.EncodeToString(s[:]) == layer
	}
	if r := sh(t, dir, nil, "printf '\\x5a' | dd of="+blob+" bs=1 seek=100 conv=notrunc status=none"); r.code != 0 || intact() {
		t.Fatal("could not flip a byte of the layer")
	}

	r := sh(t, dir, nil, "ocm-fetch --cache cache < plan.jsonl > /dev/null")
	if r.code != 0 || blobsMoved(t, r.stderr) != 0 || intact() {
		t.Fatalf("fetch without --verify: exit %d, %d blobs moved, layer intact %v; want 0, 0, false (sizes only)\n%s", r.code, blobsMoved(t, r.stderr), intact(), r.stderr)
	}
	r = sh(t, dir, nil, "ocm-fetch --verify --cache cache < plan.jsonl > /dev/null")
	if r.code != 0 || blobsMoved(t, r.stderr) != 1 || !intact() {
		t.Fatalf("fetch --verify: exit %d, %d blobs moved, layer intact %v; want 0, 1, true\n%s", r.code, blobsMoved(t, r.stderr), intact(), r.stderr)
	}
	if !strings.Contains(r.stderr, "docker/legacy:v1: the cache held 2 blobs of it missing or damaged") || !strings.Contains(r.stderr, layer) {
		t.Errorf("the refetch is not named:\n%s", r.stderr)
	}
	// What the cache holds now verifies: ocm-pack hashes every blob it packs.
	if r := sh(t, dir, nil, "ocm-fetch --verify --cache cache < plan.jsonl | ocm-pack --cache cache --out archives > /dev/null"); r.code != 0 {
		t.Fatalf("fetch --verify | pack after the refetch: exit %d\n%s", r.code, r.stderr)
	}
}

// fakeImage is one image a hostileRegistry serves: its manifest names a
// config and one layer by the descriptors given, whatever bytes it serves.
type fakeImage struct {
	repo     string
	manifest []byte
	blobs    map[string][]byte // digest -> bytes served
}

// hostileRegistry serves images over the distribution API's read side, with
// bodies their manifests do not describe.
func hostileRegistry(t *testing.T, imgs ...fakeImage) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		for _, img := range imgs {
			rest, ok := strings.CutPrefix(r.URL.Path, "/v2/"+img.repo+"/")
			if !ok {
				continue
			}
			var body []byte
			switch {
			case rest == "manifests/v1" || rest == "manifests/"+digestOf(img.manifest):
				body = img.manifest
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				w.Header().Set("Docker-Content-Digest", digestOf(img.manifest))
			case strings.HasPrefix(rest, "blobs/") && img.blobs[strings.TrimPrefix(rest, "blobs/")] != nil:
				body = img.blobs[strings.TrimPrefix(rest, "blobs/")]
			default:
				continue
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			if r.Method != http.MethodHead {
				w.Write(body)
			}
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// ociManifest is an image manifest naming config and one layer.
func ociManifest(config []byte, layerDigest string, layerSize int) []byte {
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		digestOf(config), len(config), layerDigest, layerSize))
}

// N17: a source blob longer than its descriptor says, and a manifest naming
// a layer by a digest that is not one, fail their image with one line that
// names the image, the blob and the fix; the bad digest is found by ocm-plan.
func TestN17HostileSourceMessages(t *testing.T) {
	dst := testenv.Start(t, testenv.RegistryOptions{})
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := []byte("the layer as described")
	long := fakeImage{repo: "long/img", manifest: ociManifest(config, digestOf(layer), len(layer)),
		blobs: map[string][]byte{digestOf(config): config, digestOf(layer): append(append([]byte{}, layer...), " and more"...)}}
	bad := fakeImage{repo: "bad/img", manifest: ociManifest(config, "sha256:zz", 5),
		blobs: map[string][]byte{digestOf(config): config}}
	host := hostileRegistry(t, long, bad)
	for _, tt := range []struct {
		name, image, stage string
		want               []string
	}{
		{"blob longer than its descriptor", host + "/long/img:v1", "push", []string{host + "/long/img:v1", digestOf(layer), "the image's manifest gives 22", "; fix: the source registry serves"}},
		{"invalid layer digest", host + "/bad/img:v1", "plan", []string{host + "/bad/img:v1", `"sha256:zz"`, "; fix: "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  additionalImages:\n  - name: "+tt.image+"\n")
			r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push docker://"+dst.Host+"/m > out.jsonl")
			recs := records(t, sh(t, dir, nil, "cat out.jsonl").stdout)
			if r.code != 1 || len(recs) != 1 || recs[0].Status != record.StatusFailed || recs[0].Stage != tt.stage {
				t.Fatalf("exit %d, records %+v; want 1 and the image failed by %s\n%s", r.code, recs, tt.stage, r.stderr)
			}
			// The record is the image's; the summary line names it too.
			if !strings.Contains(r.stderr, "FAILED "+tt.image+": ") {
				t.Errorf("the summary does not name the image %s:\n%s", tt.image, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(recs[0].Source+" "+recs[0].Error, w) {
					t.Errorf("the record's error does not say %q: %s", w, recs[0].Error)
				}
			}
		})
	}
}
