package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// archiveSize returns the total size of the mirror_*.tar files in dir.
func archiveFiles(t *testing.T, dir string) (files []string, total int64) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "mirror_") && strings.HasSuffix(e.Name(), ".tar") {
			fi, _ := e.Info()
			files = append(files, e.Name())
			total += fi.Size()
		}
	}
	return files, total
}

// TestDiskToMirrorAcrossTheGap: plan | fetch | pack on the connected side;
// then, with the source registry stopped, unpack into a fresh cache | push.
// A second, incremental set adds one image and carries only its new blobs.
func TestDiskToMirrorAcrossTheGap(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 1<<20) // big enough that metadata is under 1 %
	dir := t.TempDir()
	isc := additionalISC(src.Host, set)
	writeFile(t, filepath.Join(dir, "isc.yaml"), isc)

	r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-fetch --cache cache | ocm-pack --cache cache --out archives --archive-size 2600KiB > packed.jsonl")
	if r.code != 0 {
		t.Fatalf("mirror to disk: exit %d", r.code)
	}
	first, _ := archiveFiles(t, filepath.Join(dir, "archives"))
	if len(first) < 3 {
		t.Fatalf("%d archives under a 2600 KiB limit, want at least 3", len(first))
	}
	for _, f := range first {
		fi, _ := os.Stat(filepath.Join(dir, "archives", f))
		if fi.Size() > 2600<<10 {
			t.Errorf("%s is %d bytes, over 2600 KiB", f, fi.Size())
		}
	}
	// Plain tar: the archives extract with tar into an OCI layout skopeo reads.
	if r := sh(t, dir, nil, "mkdir -p extracted && for f in archives/mirror_*.tar; do tar -xf $f -C extracted; done"); r.code != 0 {
		t.Fatal("tar could not extract the archives")
	}
	ubi, _ := set.ByRepo("ubi9/ubi")
	if got := skopeoDigest(t, "oci:"+filepath.Join(dir, "extracted")+":"+src.Host+"/ubi9/ubi:latest"); got != ubi.Digest {
		t.Errorf("extracted layout: %s, want %s", got, ubi.Digest)
	}

	// Across the gap: no source registry.
	dst := testenv.Start(t, testenv.RegistryOptions{})
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	r = sh(t, dir, nil, fmt.Sprintf("ocm-unpack archives --cache far | ocm-push --cache far docker://%s/m > pushed.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("disk to mirror: exit %d", r.code)
	}
	pushed := 0
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Status == record.StatusSkipped {
			continue
		}
		if rec.Status != record.StatusPushed {
			t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
		pushed++
		if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
			t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
		}
	}
	if pushed != len(set.Images)-2 {
		t.Fatalf("%d pushed, want %d", pushed, len(set.Images)-2)
	}

	// Incremental: one more image; the new set carries only its blobs.
	if err := src.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Unblocking library/alpine adds its two images to the set.
	writeFile(t, filepath.Join(dir, "isc.yaml"), strings.Replace(isc, "  blockedImages:\n  - name: "+src.Host+"/library/alpine\n", "", 1))
	_, before := archiveFiles(t, filepath.Join(dir, "archives"))
	r = sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-fetch --cache cache | ocm-pack --cache cache --out archives > packed2.jsonl")
	if r.code != 0 {
		t.Fatalf("second pack: exit %d", r.code)
	}
	all, after := archiveFiles(t, filepath.Join(dir, "archives"))
	added := after - before
	// The new blobs: the two alpine images (manifest, config, one layer each).
	var newBlobs int64
	for _, img := range set.Images {
		if img.Repo == "library/alpine" {
			newBlobs += blobBytes(t, dir, img.Digest)
		}
	}
	t.Logf("second set: %d bytes for %d bytes of new blobs", added, newBlobs)
	if added > newBlobs+newBlobs/100 {
		t.Fatalf("second set is %d bytes for %d bytes of new blobs", added, newBlobs)
	}
	if len(all) != len(first)+1 {
		t.Fatalf("second set wrote %d archives, want 1", len(all)-len(first))
	}
	src.Stop()
	// Both sets, in order, into a fresh cache: every image.
	r = sh(t, dir, nil, fmt.Sprintf("ocm-unpack archives --cache far2 | ocm-push --cache far2 docker://%s/m2 > pushed2.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("unpack both sets: exit %d", r.code)
	}
	n := 0
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed2.jsonl").stdout) {
		if rec.Status != record.StatusPushed {
			t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
		n++
		if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
			t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
		}
	}
	if n != len(set.Images) {
		t.Fatalf("%d images pushed from both sets, want %d", n, len(set.Images))
	}
}

// blobBytes sums an image's blob sizes as cached in DIR/cache.
func blobBytes(t *testing.T, dir, digest string) int64 {
	t.Helper()
	r := sh(t, dir, nil, "cat cache/blobs/sha256/"+digest[7:])
	var m struct {
		Config struct{ Size int64 }
		Layers []struct{ Size int64 }
	}
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatal(err)
	}
	total := int64(len(r.stdout)) + m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total
}

// TestCorruptArchivesThroughThePipe: a truncated archive, a flipped byte and
// a missing archive each fail the images they touch, name the archive, and
// let nothing corrupt reach the mirror.
func TestCorruptArchivesThroughThePipe(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-fetch --cache cache | ocm-pack --cache cache --out good --archive-size 100KiB > /dev/null"); r.code != 0 {
		t.Fatalf("pack: exit %d", r.code)
	}
	src.Stop()
	files, _ := archiveFiles(t, filepath.Join(dir, "good"))
	last := files[len(files)-1]
	cases := []struct{ name, damage, want string }{
		{"truncated", "truncate -s $(( $(stat -c %s bad/" + last + ") / 2 )) bad/" + last, "archive " + last + ": truncated inside blob sha256:"},
		{"flipped byte", "printf '\\x00' | dd of=bad/" + last + " bs=1 seek=20000 conv=notrunc status=none", "archive " + last + ": blob sha256:"},
		{"missing archive", "rm bad/" + last, "archive " + last + " of set"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := testenv.Start(t, testenv.RegistryOptions{})
			script := fmt.Sprintf("rm -rf bad far && cp -r good bad && %s && ocm-unpack bad --cache far | ocm-push --cache far docker://%s/c%d > out.jsonl", c.damage, dst.Host, i)
			r := sh(t, dir, nil, script)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1", r.code)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Fatalf("stderr lacks %q", c.want)
			}
			failed := 0
			for _, rec := range records(t, sh(t, dir, nil, "cat out.jsonl").stdout) {
				switch rec.Status {
				case record.StatusFailed:
					failed++
					if !strings.Contains(rec.Error, "sha256:") {
						t.Errorf("%s: error does not name the blob: %s", rec.Source, rec.Error)
					}
				case record.StatusPushed:
					if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
						t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
					}
				}
			}
			if failed == 0 {
				t.Fatal("no image failed")
			}
		})
	}
}

// TestExampleMakefile: the example Makefile runs the stages once, then
// considers everything up to date, and reruns only from the stage whose
// input changed.
func TestExampleMakefile(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	mk := fmt.Sprintf("make -f %s OCM=ocm- MIRROR=docker://%s/mk ", filepath.Join(repoRoot(t), "examples", "Makefile"), dst.Host)
	if r := sh(t, dir, nil, mk+"archives && "+mk+"resources"); r.code != 0 {
		t.Fatalf("make: exit %d", r.code)
	}
	if r := sh(t, dir, nil, mk+"-q archives && "+mk+"-q resources"); r.code != 0 {
		t.Fatal("second make is not up to date")
	}
	// Only the far side changes when only the archives change.
	sh(t, dir, nil, "touch archives/mirror_000001.tar")
	r := sh(t, dir, nil, mk+"resources")
	if r.code != 0 || strings.Contains(r.stdout, "ocm-plan") || !strings.Contains(r.stdout, "ocm-unpack") {
		t.Fatalf("make after touching an archive ran:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "cluster-resources", "itms-oc-mirror.yaml")); err != nil {
		t.Fatal(err)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}

// TestDryRun: nothing is copied; mapping.txt lists every image and
// missing.txt those not yet at the destination.
func TestDryRun(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	want := len(set.Images) - 2
	lines := func(f string) int {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\n")
	}
	r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl && ocm-fetch --dry-run --cache cache --workspace ws < plan.jsonl > out.jsonl")
	if r.code != 0 || !strings.Contains(r.stderr, fmt.Sprintf("%d/%d images necessary for mirroring are not available in the cache", want, want)) {
		t.Fatalf("exit %d", r.code)
	}
	if lines("ws/dry-run/mapping.txt") != want || lines("ws/dry-run/missing.txt") != want {
		t.Fatalf("mapping %d, missing %d lines, want %d", lines("ws/dry-run/mapping.txt"), lines("ws/dry-run/missing.txt"), want)
	}
	if blobsMoved(t, r.stderr) != 0 {
		t.Fatal("dry run moved blobs")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "cache", "blobs", "sha256")); len(ents) != 0 {
		t.Fatalf("dry run wrote %d blobs", len(ents))
	}
	for _, rec := range records(t, sh(t, dir, nil, "cat out.jsonl").stdout) {
		if rec.Status == record.StatusCached {
			t.Fatal("dry run marked an image cached")
		}
	}
	// After a real fetch, nothing is missing.
	sh(t, dir, nil, "ocm-fetch --cache cache < plan.jsonl > /dev/null")
	r = sh(t, dir, nil, "ocm-fetch --dry-run --cache cache --workspace ws < plan.jsonl > /dev/null")
	if r.code != 0 || lines("ws/dry-run/missing.txt") != 0 || lines("ws/dry-run/mapping.txt") != want {
		t.Fatalf("after fetch: exit %d, missing %d", r.code, lines("ws/dry-run/missing.txt"))
	}
	// Push dry run against the mirror.
	r = sh(t, dir, nil, fmt.Sprintf("ocm-push --dry-run --workspace ws2 docker://%s < plan.jsonl > /dev/null", dst.Host))
	if r.code != 0 || lines("ws2/dry-run/missing.txt") != want {
		t.Fatalf("push dry run: exit %d, missing %d", r.code, lines("ws2/dry-run/missing.txt"))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "ws2", "dry-run", "mapping.txt"))
	if !strings.Contains(string(b), "docker://"+src.Host+"/ubi9/ubi:latest=docker://"+dst.Host+"/ubi9/ubi:latest") {
		t.Fatalf("mapping.txt:\n%s", b)
	}
}
