package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/archive"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestFlakyRegistries: 429s with Retry-After, 5xx, connection resets and
// slow bodies on both sides; the run completes through retries. An image
// that keeps failing fails alone once its retries are spent.
func TestFlakyRegistries(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 64<<10)
	faults := testenv.Faults{TooManyRequests: 0.04, ServerError: 0.06, Reset: 0.04, SlowBody: 0.05, Seed: 7}
	sp, err := testenv.StartFaultProxy(src.URL(), faults)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	faults.Seed = 8
	dp, err := testenv.StartFaultProxy(dst.URL(), faults)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	dir := t.TempDir()
	// The configuration names images through the flaky source proxy.
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(sp.Host, set))
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c isc.yaml --retries 8 | ocm-push --retries 8 docker://%s > pushed.jsonl", dp.Host))
	if r.code != 0 {
		t.Fatalf("exit %d through flaky registries", r.code)
	}
	if sp.Injected.Load()+dp.Injected.Load() == 0 {
		t.Fatal("no fault was injected: the test proves nothing")
	}
	if !strings.Contains(r.stderr, "retries") || strings.Contains(r.stderr, " 0 retries") {
		t.Fatalf("no retry counted:\n%s", r.stderr)
	}
	t.Logf("faults injected: source %d, mirror %d", sp.Injected.Load(), dp.Injected.Load())
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			continue
		}
		// Check straight against the registry, not through the proxy.
		direct := strings.Replace(rec.Target, dp.Host, dst.Host, 1)
		if got := skopeoDigest(t, "docker://"+direct, "--tls-verify=false"); got != rec.Digest {
			t.Errorf("%s: %s, want %s", direct, got, rec.Digest)
		}
	}

	// One repository keeps failing: it fails alone, the others go on.
	bp, err := testenv.StartFaultProxy(src.URL(), testenv.Faults{Always: "/ubi9/ubi-minimal/", Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close()
	writeFile(t, filepath.Join(dir, "isc2.yaml"), additionalISC(bp.Host, set))
	r = sh(t, dir, nil, fmt.Sprintf("ocm-plan -c isc2.yaml --retries 3 > plan2.jsonl; ocm-push --retries 3 docker://%s/two < plan2.jsonl > pushed2.jsonl", dst.Host))
	if r.code != 1 || !strings.Contains(r.stderr, "ubi9/ubi-minimal:latest") {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	pushed := 0
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed2.jsonl").stdout) {
		if rec.Status == record.StatusPushed {
			pushed++
		}
	}
	if pushed != len(set.Images)-3 {
		t.Fatalf("%d pushed, want %d (all but the broken one and the two blocked)", pushed, len(set.Images)-3)
	}
}

// startStage starts a shell pipeline in its own process group.
func startStage(t *testing.T, dir, script string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), "HOME="+dir, "XDG_RUNTIME_DIR="+dir)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &errb
}

// TestKillAndResume: ocm-fetch and ocm-push are killed (SIGKILL) at random
// points, five times each; rerunning finishes the job, and nothing corrupt is
// left under a final name.
func TestKillAndResume(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 1<<20)
	// Slow the source so that kills land mid-transfer.
	sp, err := testenv.StartFaultProxy(src.URL(), testenv.Faults{SlowBody: 1, SlowDelay: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(sp.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl"); r.code != 0 {
		t.Fatal("plan failed")
	}
	rng := rand.New(rand.NewPCG(42, 43))
	for i := 0; i < 5; i++ {
		cmd, _ := startStage(t, dir, "exec ocm-fetch --blob-workers 2 --cache cache < plan.jsonl > /dev/null")
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}
	r := sh(t, dir, nil, "ocm-fetch --cache cache < plan.jsonl > fetched.jsonl")
	if r.code != 0 {
		t.Fatalf("resumed fetch: exit %d", r.code)
	}
	t.Logf("resumed fetch moved %s", bytesMovedText(t, r.stderr))
	// Every blob under its final name is whole.
	c, err := cache.Open(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "cache", "blobs", "sha256"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			continue // partial, never under a final name
		}
		if _, err := c.ReadBlob("sha256:" + e.Name()); err != nil {
			t.Errorf("corrupt blob %s: %v", e.Name(), err)
		}
	}
	recs := records(t, sh(t, dir, nil, "cat fetched.jsonl").stdout)
	for _, rec := range recs {
		if rec.Status == record.StatusCached {
			if _, err := c.ImageBlobs(rec.Digest, rec.MediaType); err != nil {
				t.Errorf("%s: %v", rec.Source, err)
			}
		}
	}
	// Push: killed five times, then resumed.
	for i := 0; i < 5; i++ {
		cmd, _ := startStage(t, dir, fmt.Sprintf("exec ocm-push --cache cache docker://%s < fetched.jsonl > /dev/null", dst.Host))
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}
	r = sh(t, dir, nil, fmt.Sprintf("ocm-push --cache cache docker://%s < fetched.jsonl > pushed.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("resumed push: exit %d", r.code)
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

// TestKillAndResumeArchives: ocm-pack and ocm-unpack are killed (SIGKILL)
// at random points, five times each; the reruns finish the same set (no
// orphan archives beside it), unpack loads only what was missing, and the
// pushed images have their source digests.
func TestKillAndResumeArchives(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 6<<20)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-fetch --cache cache > fetched.jsonl"); r.code != 0 {
		t.Fatal("plan|fetch failed")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	count := func(dir, pattern string) int {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		return len(m)
	}
	pack := "ocm-pack --cache cache --out archives --archive-size 8MiB < fetched.jsonl"
	midway := 0
	for i := 0; i < 5; i++ {
		// Kill once this run has written one or two more archives, plus a
		// random moment: inside the next archive or between two.
		before := count(filepath.Join(dir, "archives"), "mirror_*.tar")
		cmd, _ := startStage(t, dir, "exec "+pack+" > /dev/null")
		more := 1 + rng.IntN(2)
		if killWhen(cmd, func() bool { return count(filepath.Join(dir, "archives"), "mirror_*.tar") >= before+more }, time.Duration(rng.IntN(30))*time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, "archives", archive.JournalFile)); err == nil {
				midway++
			}
		}
	}
	if midway == 0 {
		t.Fatal("no kill stopped ocm-pack midway: the test proves nothing")
	}
	t.Logf("%d of 5 kills stopped ocm-pack midway", midway)
	r := sh(t, dir, nil, pack+" > packed.jsonl")
	if r.code != 0 {
		t.Fatalf("resumed pack: exit %d", r.code)
	}
	if _, err := os.Stat(filepath.Join(dir, "archives", archive.JournalFile)); !os.IsNotExist(err) {
		t.Fatalf("journal left after the resumed pack: %v", err)
	}
	files, total := archiveFiles(t, filepath.Join(dir, "archives"))
	if len(files) < 6 {
		t.Fatalf("%d archives, want at least 6 under 8 MiB each", len(files))
	}
	if r := sh(t, dir, nil, pack+" > /dev/null"); r.code != 0 || !strings.Contains(r.stderr, "nothing new since set") || count(filepath.Join(dir, "archives"), "mirror_*.tar") != len(files) {
		t.Fatalf("a rerun of the finished pack must write nothing: exit %d", r.code)
	}

	unpack := "ocm-unpack archives --cache far"
	unpackKills := 0
	for i := 0; i < 5; i++ {
		before := count(filepath.Join(dir, "far", "blobs", "sha256"), "[0-9a-f]*")
		cmd, _ := startStage(t, dir, "exec "+unpack+" > /dev/null")
		more := 1 + rng.IntN(3)
		if killWhen(cmd, func() bool { return count(filepath.Join(dir, "far", "blobs", "sha256"), "[0-9a-f]*") >= before+more }, time.Duration(rng.IntN(30))*time.Millisecond) {
			unpackKills++
		}
		t.Logf("unpack run %d: %d blobs cached before, %d after", i+1, before, count(filepath.Join(dir, "far", "blobs", "sha256"), "[0-9a-f]*"))
	}
	// Exit 0 means the archive directory holds whole sets only: an orphan
	// archive of an abandoned set would be reported missing its siblings.
	r = sh(t, dir, nil, unpack+" > unpacked.jsonl")
	if r.code != 0 {
		t.Fatalf("resumed unpack: exit %d", r.code)
	}
	var rerunBytes int64
	for _, m := range regexp.MustCompile(`blobs, (\d+) bytes written`).FindAllStringSubmatch(r.stderr, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		rerunBytes += n
	}
	if unpackKills == 0 {
		t.Fatal("no kill stopped ocm-unpack midway: the test proves nothing")
	}
	if rerunBytes >= total {
		t.Errorf("resumed unpack wrote %d bytes of %d: it should load only what the killed runs had not", rerunBytes, total)
	}
	t.Logf("resumed unpack wrote %d of %d archive bytes", rerunBytes, total)
	far, err := cache.Open(filepath.Join(dir, "far"))
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "far", "blobs", "sha256"))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			if _, err := far.ReadBlob("sha256:" + e.Name()); err != nil {
				t.Errorf("corrupt blob %s: %v", e.Name(), err)
			}
		}
	}
	r = sh(t, dir, nil, fmt.Sprintf("ocm-push --cache far docker://%s < unpacked.jsonl > pushed.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("push: exit %d", r.code)
	}
	pushed := 0
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			continue
		}
		pushed++
		if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
			t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
		}
	}
	if pushed != len(set.Images)-2 {
		t.Fatalf("%d pushed, want %d (all but the two blocked)", pushed, len(set.Images)-2)
	}
}

// killWhen SIGKILLs cmd's process group once cond holds, after extra;
// false when the command ended first.
func killWhen(cmd *exec.Cmd, cond func() bool, extra time.Duration) bool {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	for !cond() {
		select {
		case <-done:
			return false
		case <-time.After(time.Millisecond):
		}
	}
	time.Sleep(extra)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	return true
}

// TestInterrupt: SIGINT stops a stage cleanly: exit 130, every input record
// comes out (the unfinished ones failed as interrupted), no temp file left.
func TestInterrupt(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 1<<20)
	sp, err := testenv.StartFaultProxy(src.URL(), testenv.Faults{SlowBody: 1, SlowDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(sp.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl"); r.code != 0 {
		t.Fatal("plan failed")
	}
	cmd, errb := startStage(t, dir, "exec ocm-fetch --image-workers 1 --blob-workers 1 --cache cache < plan.jsonl > out.jsonl")
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	err = cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v\n%s", err, errb)
	}
	recs := records(t, sh(t, dir, nil, "cat out.jsonl").stdout)
	if len(recs) != len(set.Images) {
		t.Fatalf("%d records out of %d in", len(recs), len(set.Images))
	}
	interrupted := 0
	for _, r := range recs {
		if strings.Contains(r.Error, "interrupted") || strings.Contains(r.Error, "context canceled") {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Fatal("no record says it was interrupted")
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "cache", "blobs", "sha256"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temp file left after Ctrl-C: %s", e.Name())
		}
	}
}

// TestShardedPush: a plan split in 3 and pushed by 3 concurrent ocm-push
// gives the same mirror as one process.
func TestShardedPush(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	one := testenv.Start(t, testenv.RegistryOptions{})
	three := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	script := fmt.Sprintf(`ocm-plan -c isc.yaml > plan.jsonl && ocm-push docker://%s < plan.jsonl > single.jsonl &&
split -n l/3 plan.jsonl part. && for p in part.*; do ocm-push docker://%s < $p > $p.out & done; wait`, one.Host, three.Host)
	if r := sh(t, dir, nil, script); r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	for _, rec := range records(t, sh(t, dir, nil, "cat single.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			continue
		}
		a := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false")
		b := skopeoDigest(t, "docker://"+strings.Replace(rec.Target, one.Host, three.Host, 1), "--tls-verify=false")
		if a != b || a != rec.Digest {
			t.Errorf("%s: single %s, sharded %s, want %s", rec.Source, a, b, rec.Digest)
		}
	}
}
