package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// mirrorContents lists "repo:tag digest" for every tag of reg, read with
// go-containerregistry (not ocm's client).
func mirrorContents(t *testing.T, reg *testenv.Registry) []string {
	t.Helper()
	ctx := context.Background()
	r, err := name.NewRegistry(reg.Host, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	repos, err := remote.Catalog(ctx, r)
	if err != nil {
		t.Fatalf("catalog of %s: %v", reg.Host, err)
	}
	var out []string
	for _, repo := range repos {
		rp, err := name.NewRepository(reg.Host+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		tags, err := remote.List(rp, remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("tags of %s: %v", rp, err)
		}
		for _, tag := range tags {
			d, err := remote.Head(rp.Tag(tag), remote.WithContext(ctx))
			if err != nil {
				t.Fatalf("%s:%s: %v", rp, tag, err)
			}
			out = append(out, fmt.Sprintf("%s:%s %s", repo, tag, d.Digest))
		}
	}
	sort.Strings(out)
	return out
}

// movedBytes reads the bytes a summary line says were moved (to 0.1 of the
// unit it prints).
func movedBytes(t *testing.T, stderr string) float64 {
	t.Helper()
	f := strings.Fields(bytesMovedText(t, stderr))
	if len(f) != 2 {
		t.Fatalf("moved %q: not a size", f)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[f[1]]
	if mult == 0 {
		t.Fatalf("moved %q: unknown unit", f)
	}
	return v * mult
}

// exampleJob decodes a Job of examples/kubernetes strictly.
func exampleJob(t *testing.T, file string) *batchv1.Job {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	var j batchv1.Job
	if err := yaml.UnmarshalStrict(b, &j); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return &j
}

// podCommand is the shell line for the job's first container in the pod of
// index: $(JOB_COMPLETION_INDEX) expanded as the kubelet does, paths mapped.
func podCommand(j *batchv1.Job, index int, paths *strings.Replacer) string {
	c := j.Spec.Template.Spec.Containers[0]
	var words []string
	for _, a := range append(append([]string{}, c.Command...), c.Args...) {
		a = strings.ReplaceAll(a, "$(JOB_COMPLETION_INDEX)", strconv.Itoa(index))
		words = append(words, "'"+strings.ReplaceAll(paths.Replace(a), "'", `'\''`)+"'")
	}
	return strings.Join(words, " ")
}

// The Indexed Job of examples/kubernetes, its three pods run here as local
// processes, leaves the mirror a single push leaves, and moves the same
// bytes: images sharing layers are in one shard, so no blob is copied twice.
func TestShardedPushEqualsSingleRun(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	single := testenv.Start(t, testenv.RegistryOptions{})
	sharded := testenv.Start(t, testenv.RegistryOptions{})
	// Layers small enough that the summaries print KiB to 0.1 (exact to
	// 0.01 %), large enough that manifests do not dominate.
	set := populateSized(t, src, 48<<10)
	dir := t.TempDir()
	// The plan job's and the push job's containers, run here as the pods
	// would: the commands and arguments of examples/kubernetes, with their
	// volumes as local folders and the example mirror as the test's.
	vols := strings.NewReplacer("/config/", dir+"/config/", "/auth/", dir+"/auth/", "/work/", dir+"/work/",
		"docker://mirror.example.com:5000/ocp", "docker://"+sharded.Host+"/mirror")
	writeFile(t, filepath.Join(dir, "config", "isc.yaml"), additionalISC(src.Host, set))
	writeFile(t, filepath.Join(dir, "auth", "config.json"), `{"auths":{}}`)
	writeFile(t, filepath.Join(dir, "work", ".keep"), "")
	planJob, pushJob := exampleJob(t, "plan-job.yaml"), exampleJob(t, "push-job.yaml")
	if r := sh(t, dir, nil, podCommand(planJob, 0, vols)); r.code != 0 {
		t.Fatalf("plan exit %d", r.code)
	}
	sh(t, dir, nil, "cp work/plan.jsonl plan.jsonl")

	one := sh(t, dir, nil, fmt.Sprintf("ocm-push docker://%s/mirror < plan.jsonl > single.jsonl", single.Host))
	if one.code != 0 {
		t.Fatalf("single push exit %d", one.code)
	}
	// The pods run at once, each with the index Kubernetes gives it.
	n := int(*pushJob.Spec.Completions)
	if n != 3 {
		t.Fatalf("the example runs %d pods; this test expects 3", n)
	}
	script := ""
	for i := 0; i < n; i++ {
		script += fmt.Sprintf("(JOB_COMPLETION_INDEX=%d %s 2> shard-%d.err; echo $? > shard-%d.rc) &\n", i, podCommand(pushJob, i, vols), i, i)
	}
	script += "wait; for i in 0 1 2; do echo \"== $i rc=$(cat shard-$i.rc)\"; cat shard-$i.err; done"
	all := sh(t, dir, nil, script)
	parts := strings.Split(all.stdout, "== ")[1:]
	if len(parts) != 3 {
		t.Fatalf("want 3 shard outputs, got:\n%s", all.stdout)
	}
	var shardBytes float64
	shardBlobs, shardRecs := 0, 0
	for i, p := range parts {
		if !strings.HasPrefix(p, fmt.Sprintf("%d rc=0", i)) {
			t.Fatalf("shard %d failed:\n%s", i, p)
		}
		for _, line := range strings.Split(p, "\n") {
			if strings.Contains(line, "] shard ") || strings.HasPrefix(line, "ocm-push: ") {
				t.Logf("pod %d: %s", i, line)
			}
		}
		shardBytes += movedBytes(t, p)
		shardBlobs += blobsMoved(t, p)
		out := sh(t, dir, nil, fmt.Sprintf("cat work/pushed-%d.jsonl", i))
		n := len(records(t, out.stdout))
		if n == 0 {
			t.Errorf("shard %d pushed nothing: the split is not spread", i)
		}
		shardRecs += n
	}
	singleBytes := movedBytes(t, one.stderr)
	singleBlobs := blobsMoved(t, one.stderr)
	t.Logf("bytes moved: single %.0f, shards %.0f; blobs: single %d, shards %d", singleBytes, shardBytes, singleBlobs, shardBlobs)
	if math.Abs(shardBytes-singleBytes) > singleBytes/100 {
		t.Errorf("shards moved %.0f bytes, a single run %.0f: more than 1%% apart", shardBytes, singleBytes)
	}
	// The registries' storage, measured apart from ocm's own counters.
	a, err := single.DataSize()
	if err != nil {
		t.Fatal(err)
	}
	b, err := sharded.DataSize()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("registry storage: single %d, sharded %d bytes", a, b)
	if math.Abs(float64(a-b)) > float64(a)/100 {
		t.Errorf("sharded mirror stores %d bytes, single %d: more than 1%% apart", b, a)
	}
	if shardBlobs != singleBlobs {
		t.Errorf("shards copied %d blobs, a single run %d: some blob was copied twice", shardBlobs, singleBlobs)
	}

	// The union of the shards' records is the single run's.
	sum := func(files string) []string {
		out := sh(t, dir, nil, "cat "+files)
		var lines []string
		for _, r := range records(t, out.stdout) {
			lines = append(lines, fmt.Sprintf("%s %s %s %s", r.Origin, r.Destination, r.Digest, r.Status))
		}
		sort.Strings(lines)
		return lines
	}
	if a, b := sum("single.jsonl"), sum("work/pushed-0.jsonl work/pushed-1.jsonl work/pushed-2.jsonl"); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("records differ:\nsingle:\n%s\nshards:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if a, b := mirrorContents(t, single), mirrorContents(t, sharded); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("mirrors differ:\nsingle:\n%s\nsharded:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	} else if len(a) < 5 {
		t.Errorf("mirror holds only %v", a)
	}

	// A bad selection is a usage error that names the fix.
	for _, bad := range []string{"--shard 3/3", "--shards 3", "--input missing.jsonl", "--output nodir/out.jsonl"} {
		r := sh(t, dir, []string{"JOB_COMPLETION_INDEX="}, fmt.Sprintf("ocm-push %s docker://%s/mirror < plan.jsonl", bad, sharded.Host))
		if r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line", bad, r.code, r.stderr)
		}
	}
}

// With operators, the pod that has a catalog also has its bundles and
// related images, so it leaves out of the rebuilt catalog the bundle whose
// image is gone from the source, as a single push does; the other pods push
// additional images. The missing image does not stop the split.
func TestShardedPushKeepsCatalogsWhole(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	single := testenv.Start(t, testenv.RegistryOptions{})
	sharded := testenv.Start(t, testenv.RegistryOptions{})
	ctx := context.Background()
	cat, err := fixture.OperatorCatalog(ctx, fixture.Options{Host: src.Host, LayerSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	set := populate(t, src)
	isc := head + fmt.Sprintf(operatorISC, cat.Ref) + "  additionalImages:\n"
	for _, img := range set.Images {
		if img.Tag != "" && !strings.HasPrefix(img.Repo, "library/alpine") {
			isc += fmt.Sprintf("  - name: %s/%s:%s\n", src.Host, img.Repo, img.Tag)
		}
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), isc)
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml --cache cache --output plan.jsonl"); r.code != 0 {
		t.Fatalf("plan exit %d", r.code)
	}
	gone := cat.Related["gamma.v0.2.0"][1]
	at := strings.LastIndex(gone, "@")
	req, _ := http.NewRequest(http.MethodDelete, "http://"+src.Host+"/v2/"+strings.TrimPrefix(gone[:at], src.Host+"/")+"/manifests/"+gone[at+1:], nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deleting %s: %v %v", gone, resp, err)
	}

	if r := sh(t, dir, nil, fmt.Sprintf("ocm-push --cache cache --input plan.jsonl --output single.jsonl docker://%s", single.Host)); r.code != 1 {
		t.Fatalf("single push exit %d, want 1 (one image is gone)", r.code)
	}
	script := ""
	for i := 0; i < 3; i++ {
		script += fmt.Sprintf("(ocm-push --cache cache --shard %d/3 --input plan.jsonl --output pushed-%d.jsonl docker://%s 2> shard-%d.err; echo $? > shard-%d.rc) &\n", i, i, sharded.Host, i, i)
	}
	sh(t, dir, nil, script+"wait")
	catalogPods, failedPods := 0, 0
	for i := 0; i < 3; i++ {
		rc := strings.TrimSpace(sh(t, dir, nil, fmt.Sprintf("cat shard-%d.rc", i)).stdout)
		errText := sh(t, dir, nil, fmt.Sprintf("cat shard-%d.err", i)).stdout
		hasCatalog := false
		for _, rec := range records(t, sh(t, dir, nil, fmt.Sprintf("cat pushed-%d.jsonl", i)).stdout) {
			hasCatalog = hasCatalog || rec.Origin == record.OriginCatalog
		}
		t.Logf("pod %d: exit %s, catalog %v\n%s", i, rc, hasCatalog, errText)
		if hasCatalog {
			catalogPods++
		}
		switch {
		case rc == "1" && hasCatalog && strings.Contains(errText, "FAILED "+gone):
			failedPods++
		case rc != "0":
			t.Errorf("pod %d: exit %s", i, rc)
		}
	}
	if catalogPods != 1 || failedPods != 1 {
		t.Errorf("%d pods had the catalog and %d failed; want the one with the catalog to fail the gone image", catalogPods, failedPods)
	}
	sum := func(files string) string {
		var lines []string
		for _, r := range records(t, sh(t, dir, nil, "cat "+files).stdout) {
			lines = append(lines, fmt.Sprintf("%s %s %s %s", r.Origin, r.Destination, r.Digest, r.Status))
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}
	if a, b := sum("single.jsonl"), sum("pushed-0.jsonl pushed-1.jsonl pushed-2.jsonl"); a != b {
		t.Errorf("records differ:\nsingle:\n%s\nshards:\n%s", a, b)
	}
	if a, b := mirrorContents(t, single), mirrorContents(t, sharded); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("mirrors differ:\nsingle:\n%s\nsharded:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed-*.jsonl").stdout) {
		if rec.Origin == record.OriginCatalog {
			fbc := readCatalog(t, sharded.Host, "mirrored/ocm-index", rec.Digest, "")
			if fbc.Packages["gamma"] != nil || fbc.Packages["aqua"] == nil {
				t.Errorf("sharded catalog offers %v; want aqua and elastic, not gamma", fbc.SortedPackages())
			}
		}
	}
}

// ocm-fetch takes the same split: two shards fill two caches that together
// hold what one fetch holds, each blob in one of them only.
func TestShardedFetch(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml --output plan.jsonl"); r.code != 0 {
		t.Fatalf("plan exit %d", r.code)
	}
	if r := sh(t, dir, nil, "ocm-fetch --cache one --input plan.jsonl --output one.jsonl"); r.code != 0 {
		t.Fatalf("fetch exit %d", r.code)
	}
	for i := 0; i < 2; i++ {
		if r := sh(t, dir, nil, fmt.Sprintf("ocm-fetch --shard %d/2 --cache c%d --input plan.jsonl --output f%d.jsonl", i, i, i)); r.code != 0 {
			t.Fatalf("fetch shard %d exit %d", i, r.code)
		}
	}
	lines := func(script string) []string {
		out := strings.Fields(sh(t, dir, nil, script).stdout)
		sort.Strings(out)
		return out
	}
	recs := func(files string) string {
		var l []string
		for _, r := range records(t, sh(t, dir, nil, "cat "+files).stdout) {
			l = append(l, r.Source+" "+r.Digest+" "+string(r.Status))
		}
		sort.Strings(l)
		return strings.Join(l, "\n")
	}
	if a, b := recs("one.jsonl"), recs("f0.jsonl f1.jsonl"); a != b {
		t.Errorf("records differ:\none fetch:\n%s\nshards:\n%s", a, b)
	}
	one := lines("ls one/blobs/sha256")
	c0, c1 := lines("ls c0/blobs/sha256"), lines("ls c1/blobs/sha256")
	in0 := map[string]bool{}
	for _, b := range c0 {
		in0[b] = true
	}
	for _, b := range c1 {
		if in0[b] {
			t.Errorf("blob %s fetched by both shards", b)
		}
	}
	if len(c0) == 0 || len(c1) == 0 {
		t.Errorf("a shard fetched nothing: %d and %d blobs", len(c0), len(c1))
	}
	if both := append(append([]string{}, c0...), c1...); len(both) != len(one) {
		t.Errorf("shards cached %d blobs, one fetch %d", len(both), len(one))
	}
}
