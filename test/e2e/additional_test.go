package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/record"
)

// additionalISC lists every fixture image and blocks library/alpine.
func additionalISC(src string, set *fixture.Set, extra ...string) string {
	var b strings.Builder
	b.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	for _, img := range set.Images {
		ref := src + "/" + img.Repo
		if img.Tag != "" {
			ref += ":" + img.Tag
		} else {
			ref += "@" + img.Digest
		}
		fmt.Fprintf(&b, "  - name: %s\n", ref)
	}
	for _, e := range extra {
		fmt.Fprintf(&b, "  - name: %s\n", e)
	}
	fmt.Fprintf(&b, "  blockedImages:\n  - name: %s/library/alpine\n", src)
	return b.String()
}

func populate(t *testing.T, src *testenv.Registry) *fixture.Set {
	return populateSized(t, src, 0)
}

func populateSized(t *testing.T, src *testenv.Registry, layerSize int) *fixture.Set {
	t.Helper()
	set, err := fixture.Additional(context.Background(), fixture.Options{Host: src.Host, LayerSize: layerSize})
	if err != nil {
		t.Fatalf("building fixture images: %v", err)
	}
	return set
}

func skopeoDigest(t *testing.T, ref string, extra ...string) string {
	t.Helper()
	d, err := testenv.SkopeoDigest(context.Background(), ref, extra...)
	if err != nil {
		t.Fatalf("skopeo: %v", err)
	}
	return d
}

func TestMirrorToMirrorAdditionalImages(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	isc := writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))

	run := func() result {
		return sh(t, dir, nil, fmt.Sprintf("ocm-plan -c %s | ocm-push docker://%s/mirror > pushed.jsonl", isc, dst.Host))
	}
	r := run()
	if r.code != 0 {
		t.Fatalf("pipeline exit %d", r.code)
	}
	out := sh(t, dir, nil, "cat pushed.jsonl")
	recs := records(t, out.stdout)
	byDigest := map[string]*record.Record{}
	for _, rec := range recs {
		byDigest[rec.Digest] = rec
	}
	sawIndex := false
	for _, img := range set.Images {
		target := fmt.Sprintf("docker://%s/mirror/%s", dst.Host, img.Repo)
		if img.Tag != "" {
			target += ":" + img.Tag
		} else {
			target += "@" + img.Digest
		}
		if strings.HasPrefix(img.Repo, "library/alpine") {
			if _, err := testenv.SkopeoDigest(context.Background(), target, "--tls-verify=false"); err == nil {
				t.Errorf("blocked image %s reached the mirror", target)
			}
			continue
		}
		if got := skopeoDigest(t, target, "--tls-verify=false"); got != img.Digest {
			t.Errorf("%s: mirror digest %s, source %s", target, got, img.Digest)
		}
		if len(img.Platforms) == 4 {
			sawIndex = true
			rec := byDigest[img.Digest]
			if rec == nil || len(rec.Platforms) != 4 {
				t.Errorf("index record lacks its 4 platforms: %+v", rec)
			}
			// Every child manifest is in the mirror too.
			raw, err := testenv.Skopeo(context.Background(), "inspect", "--raw", "--tls-verify=false", target)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"arm64", "ppc64le", "s390x"} {
				if !strings.Contains(string(raw), p) {
					t.Errorf("index lacks %s", p)
				}
			}
			if _, err := testenv.Skopeo(context.Background(), "inspect", "--tls-verify=false", "--override-arch", "s390x", target); err != nil {
				t.Errorf("s390x child not pullable from the mirror: %v", err)
			}
		}
	}
	if !sawIndex {
		t.Fatal("fixture had no 4-platform index")
	}
	var skipped int
	for _, rec := range recs {
		switch rec.Status {
		case record.StatusPushed:
			if !strings.HasPrefix(rec.Target, dst.Host+"/mirror/") {
				t.Errorf("target %q not under the mirror", rec.Target)
			}
		case record.StatusSkipped:
			skipped++
			if !strings.Contains(rec.Error, "blocked") {
				t.Errorf("skipped without reason: %+v", rec)
			}
		default:
			t.Errorf("unexpected status %s for %s", rec.Status, rec.Source)
		}
	}
	if skipped != 2 {
		t.Errorf("%d blocked records, want 2 (library/alpine 3.19 and 3.20)", skipped)
	}
	if blobsMoved(t, r.stderr) == 0 {
		t.Fatal("first run moved no blobs")
	}
	if !strings.Contains(r.stderr, "progress: 8 images done") {
		t.Fatal("no periodic progress line")
	}

	// Rerun: nothing moves.
	r2 := run()
	if r2.code != 0 {
		t.Fatalf("rerun exit %d", r2.code)
	}
	if n := blobsMoved(t, r2.stderr); n != 0 {
		t.Fatalf("rerun moved %d blobs (%s), want 0", n, bytesMovedText(t, r2.stderr))
	}
	if b := bytesMovedText(t, r2.stderr); b != "0 B" {
		t.Fatalf("rerun moved %s", b)
	}
}

func TestMirrorToDiskCache(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	isc := writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c %s | ocm-fetch --cache cache > fetched.jsonl", isc))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	recs := records(t, sh(t, dir, nil, "cat fetched.jsonl").stdout)
	cached := 0
	for _, rec := range recs {
		if rec.Status != record.StatusCached {
			continue
		}
		cached++
		if strings.Contains(rec.MediaType, "docker") {
			// containers/image only resolves OCI-typed index.json entries by
			// name; Docker-typed images are stored as they are (converting
			// them would change their digests). Check them through the cache.
			c, err := cache.Open(filepath.Join(dir, "cache"))
			if err != nil {
				t.Fatal(err)
			}
			if d, ok, _ := c.Lookup(rec.Source); !ok || d.Digest != rec.Digest {
				t.Errorf("cache has no entry %s -> %s", rec.Source, rec.Digest)
			}
			continue
		}
		// skopeo reads the cache as an OCI layout by the record's source name.
		got := skopeoDigest(t, "oci:"+filepath.Join(dir, "cache")+":"+rec.Source)
		if got != rec.Digest {
			t.Errorf("cache %s: digest %s, want %s", rec.Source, got, rec.Digest)
		}
	}
	if cached != len(set.Images)-2 {
		t.Errorf("%d cached, want %d", cached, len(set.Images)-2)
	}
	r2 := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c %s | ocm-fetch --cache cache > /dev/null", isc))
	if r2.code != 0 || blobsMoved(t, r2.stderr) != 0 {
		t.Fatalf("refetch: exit %d, moved %d blobs", r2.code, blobsMoved(t, r2.stderr))
	}

	// Disk to mirror from the cache alone: the source registry is stopped.
	dst := testenv.Start(t, testenv.RegistryOptions{})
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	r3 := sh(t, dir, nil, fmt.Sprintf("ocm-push --cache cache docker://%s < fetched.jsonl > pushed.jsonl", dst.Host))
	if r3.code != 0 {
		t.Fatalf("push from cache: exit %d", r3.code)
	}
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			continue
		}
		if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
			t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
		}
	}
}

// TestResourcesPointAtTheMirror: plan | push | resources; every mirror
// named in the IDMS/ITMS serves the source's digest.
func TestResourcesPointAtTheMirror(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c isc.yaml | ocm-push docker://%s/ocp | ocm-resources --out res > pushed.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	type entry struct {
		Source  string   `json:"source"`
		Mirrors []string `json:"mirrors"`
	}
	// source (repository or namespace) -> mirrors, per set
	sets := map[string]map[string][]string{"idms-oc-mirror.yaml": {}, "itms-oc-mirror.yaml": {}}
	for f, mirrors := range sets {
		b, err := os.ReadFile(filepath.Join(dir, "res", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range strings.Split(string(b), "---\n") {
			var o struct {
				Spec struct {
					IDMS []entry `json:"imageDigestMirrors"`
					ITMS []entry `json:"imageTagMirrors"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal([]byte(d), &o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, e := range append(o.Spec.IDMS, o.Spec.ITMS...) {
				mirrors[e.Source] = append(mirrors[e.Source], e.Mirrors...)
			}
		}
	}
	// resolve maps a repository as a cluster does: the longest source that
	// is the repository or a namespace above it, the rest of the path
	// appended to each of its mirrors.
	resolve := func(mirrors map[string][]string, repo string) []string {
		best := ""
		for s := range mirrors {
			if (repo == s || strings.HasPrefix(repo, s+"/")) && len(s) > len(best) {
				best = s
			}
		}
		var out []string
		for _, m := range mirrors[best] {
			out = append(out, m+strings.TrimPrefix(repo, best))
		}
		return out
	}
	n := 0
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			continue
		}
		ref, _ := name.ParseReference(rec.Source)
		repo := ref.Context().Name()
		set := "idms-oc-mirror.yaml"
		if rec.Tag != "" {
			set = "itms-oc-mirror.yaml"
		}
		ms := resolve(sets[set], repo)
		if len(ms) == 0 {
			t.Errorf("%s: %s names no mirror of %s", rec.Source, set, repo)
			continue
		}
		for _, m := range ms {
			// Pull through the mirror reference as a cluster would.
			pull := "docker://" + m + "@" + rec.Digest
			if rec.Tag != "" {
				pull = "docker://" + m + ":" + rec.Tag
			}
			if got := skopeoDigest(t, pull, "--tls-verify=false"); got != rec.Digest {
				t.Errorf("%s via %s: %s, want %s", rec.Source, pull, got, rec.Digest)
			}
			n++
		}
	}
	if n < len(set.Images)-2 {
		t.Fatalf("checked %d mirrors", n)
	}
}
