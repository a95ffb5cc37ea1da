package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

func bundlesOf(recs []*record.Record) []string {
	var out []string
	for _, r := range recs {
		if r.Origin == record.OriginBundle {
			out = append(out, r.Bundle)
		}
	}
	sort.Strings(out)
	return out
}

func recordOf(recs []*record.Record, origin record.Origin, source string) *record.Record {
	for _, r := range recs {
		if r.Origin == origin && r.Source == source {
			return r
		}
	}
	return nil
}

// TestOcMirrorConfigurations feeds ocm-plan image set configurations
// written as oc-mirror 4.18-4.20 documents them, one per field ocm did not
// read before, and asserts each one's effect on the planned records. No
// --cache is given: filtered catalogs go to the default cache.
func TestOcMirrorConfigurations(t *testing.T) {
	ctx := context.Background()
	src, rs, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 3})
	cat, err := fixture.OperatorCatalog(ctx, fixture.Options{Host: src.Host, LayerSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	set, err := fixture.Additional(ctx, fixture.Options{Host: src.Host, LayerSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	h := src.Host
	ubi, _ := set.ByRepo("ubi9/ubi")
	operator := func(pkgs string) string {
		return fmt.Sprintf("  operators:\n  - catalog: %s\n    packages:\n%s", cat.Ref, pkgs)
	}
	blockedComponent := rs.Components["4.15.3"][1].Digest
	cases := []struct {
		name, mirror string
		flags        string
		code         int
		stderr       string // must appear in stderr
		absent       string // must not
		check        func(t *testing.T, recs []*record.Record)
	}{
		{name: "packages[].defaultChannel", mirror: operator("    - name: aqua\n      defaultChannel: fast\n      channels:\n      - name: fast\n"),
			check: func(t *testing.T, recs []*record.Record) {
				if got := bundlesOf(recs); strings.Join(got, " ") != "aqua.v1.4.0" {
					t.Fatalf("bundles %v", got)
				}
			}},
		{name: "channels dropping the default channel need defaultChannel", mirror: operator("    - name: aqua\n      channels:\n      - name: fast\n"),
			code: 1, stderr: "drop the default channel stable; fix: add defaultChannel: <one of them>"},
		{name: "operators[].skipDependencies", mirror: operator("    - name: aqua\n") + "    skipDependencies: true\n",
			check: func(t *testing.T, recs []*record.Record) {
				if got := bundlesOf(recs); strings.Join(got, " ") != "aqua.v1.3.0" {
					t.Fatalf("bundles %v", got)
				}
			}},
		{name: "package minVersion beside channels", mirror: operator("    - name: aqua\n      minVersion: 1.3.0\n      channels:\n      - name: stable\n      - name: fast\n"),
			check: func(t *testing.T, recs []*record.Record) {
				if got := bundlesOf(recs); strings.Join(got, " ") != "aqua.v1.3.0 aqua.v1.4.0" {
					t.Fatalf("bundles %v", got)
				}
			}},
		{name: "package and channel ranges stay refused", mirror: operator("    - name: aqua\n      minVersion: 1.3.0\n      channels:\n      - name: stable\n        maxVersion: 1.3.0\n"),
			code: 2, stderr: "isc.yaml:10: mirror.operators[0].packages[0].channels[0]: package aqua: package-level minVersion/maxVersion cannot be combined with channel"},
		{name: "operators[].platforms", mirror: operator("    - name: gamma\n") + "    platforms:\n    - os: linux\n      architecture: amd64\n",
			absent: "mirror.operators[0].platforms",
			check: func(t *testing.T, recs []*record.Record) {
				if got := bundlesOf(recs); strings.Join(got, " ") != "gamma.v0.2.0" {
					t.Fatalf("bundles %v", got)
				}
				for _, r := range recs {
					// The fixture's operator images are single manifests:
					// copied as they are.
					if r.Origin != record.OriginCatalog && r.Sparse {
						t.Errorf("%s: a single manifest planned sparse", r.Source)
					}
				}
			}},
		{name: "additionalImages targetRepo and targetTag", mirror: fmt.Sprintf("  additionalImages:\n  - name: %s/ubi9/ubi:latest\n    targetRepo: custom/ubi\n    targetTag: v9\n", h),
			check: func(t *testing.T, recs []*record.Record) {
				r := recordOf(recs, record.OriginAdditional, h+"/ubi9/ubi:latest")
				if r == nil || r.Destination != "custom/ubi:v9" || r.Digest != ubi.Digest || r.Status != record.StatusPlanned {
					t.Fatalf("record %+v", r)
				}
			}},
		{name: "additionalImages[].platforms", mirror: fmt.Sprintf("  additionalImages:\n  - name: %s/multiarch/tools:1.0\n    platforms:\n    - os: linux\n      architecture: arm64\n", h),
			absent: "mirror.additionalImages[0].platforms",
			check: func(t *testing.T, recs []*record.Record) {
				r := recordOf(recs, record.OriginAdditional, h+"/multiarch/tools:1.0")
				if r == nil || r.Status != record.StatusPlanned || !r.Sparse || strings.Join(r.Platforms, " ") != "linux/arm64" {
					t.Fatalf("record %+v", r)
				}
			}},
		{name: "tag and digest", mirror: fmt.Sprintf("  additionalImages:\n  - name: %s/ubi9/ubi:9.4@%s\n", h, ubi.Digest),
			check: func(t *testing.T, recs []*record.Record) {
				r := recordOf(recs, record.OriginAdditional, h+"/ubi9/ubi:9.4@"+ubi.Digest)
				if r == nil || r.Destination != "ubi9/ubi:9.4" || r.Digest != ubi.Digest {
					t.Fatalf("record %+v", r)
				}
			}},
		{name: "platform.platforms", mirror: "  platform:\n    platforms:\n    - os: linux\n      architecture: arm64\n    channels:\n    - name: stable-4.15\n",
			absent: "mirror.platform.platforms",
			check: func(t *testing.T, recs []*record.Record) {
				n := 0
				for _, r := range recs {
					if r.Origin == record.OriginRelease {
						n++
						if !strings.HasSuffix(r.Destination, "-multi") {
							t.Errorf("payload %s is not the multi-architecture one", r.Destination)
						}
						if !r.Sparse || strings.Join(r.Platforms, " ") != "linux/arm64" {
							t.Errorf("payload %s: sparse %v platforms %v, want sparse [linux/arm64]", r.Destination, r.Sparse, r.Platforms)
						}
					}
				}
				if n == 0 {
					t.Fatal("no release planned")
				}
			}},
		{name: "platform.architectures without channels", mirror: fmt.Sprintf("  platform:\n    architectures: [arm64]\n  additionalImages:\n  - name: %s/ubi9/ubi:latest\n", h),
			stderr: "no channels and no release: no release payload is planned",
			check: func(t *testing.T, recs []*record.Record) {
				if len(recs) != 1 || recs[0].Origin != record.OriginAdditional {
					t.Fatalf("records %v", recs)
				}
			}},
		{name: "mirror.samples", mirror: fmt.Sprintf("  samples:\n  - name: ruby\n  additionalImages:\n  - name: %s/ubi9/ubi:latest\n", h),
			stderr: "mirror.samples: ignored: oc-mirror v2 reads samples but mirrors nothing for them",
			check: func(t *testing.T, recs []*record.Record) {
				if len(recs) != 1 {
					t.Fatalf("records %v", recs)
				}
			}},
		{name: "blockedImages regexes on a related and an additional image",
			mirror: operator("    - name: gamma\n") + fmt.Sprintf("  additionalImages:\n  - name: %[1]s/library/alpine:3.20\n  - name: %[1]s/library/alpine:3.19\n  - name: %[1]s/ubi9/ubi:latest\n  - name: %[1]s/ubi9/ubi:9.4\n  blockedImages:\n  - name: operands/gam+a\n  - name: \"alp.*:3\\\\.19$\"\n  - name: %[1]s/ubi9/ubi:9.4\n", h),
			check: func(t *testing.T, recs []*record.Record) {
				want := map[string]string{
					cat.Related["gamma.v0.2.0"][2]: "skipped", cat.Related["gamma.v0.2.0"][1]: "planned",
					h + "/library/alpine:3.19": "skipped", h + "/library/alpine:3.20": "planned",
					h + "/ubi9/ubi:9.4": "skipped", h + "/ubi9/ubi:latest": "planned",
				}
				for src, st := range want {
					var r *record.Record
					for _, x := range recs {
						if x.Source == src {
							r = x
						}
					}
					if r == nil || string(r.Status) != st {
						t.Errorf("%s: %+v, want %s", src, r, st)
					}
				}
				if r := recordOf(recs, record.OriginRelated, cat.Related["gamma.v0.2.0"][2]); r == nil || !strings.Contains(r.Error, `matches "operands/gam+a"`) {
					t.Errorf("related record does not name the rule: %+v", r)
				}
			}},
		{name: "blockedImages regex on the destination", mirror: fmt.Sprintf("  additionalImages:\n  - name: %s/ubi9/ubi:latest\n    targetRepo: custom/ubi\n  blockedImages:\n  - name: ^custom/\n", h),
			check: func(t *testing.T, recs []*record.Record) {
				if len(recs) != 1 || recs[0].Status != record.StatusSkipped || !strings.Contains(recs[0].Error, "destination custom/ubi:latest matches") {
					t.Fatalf("records %+v", recs[0])
				}
			}},
		{name: "a blocked release component fails the release", mirror: fmt.Sprintf("  platform:\n    channels:\n    - name: stable-4.15\n  blockedImages:\n  - name: \"@%s\"\n", blockedComponent),
			code: 1, stderr: "a release is mirrored whole or not at all"},
		{name: "invalid regex", mirror: "  blockedImages:\n  - name: quay.io/(unclosed\n",
			code: 2, stderr: "isc.yaml:5: mirror.blockedImages[0].name: \"quay.io/(unclosed\" is neither an image reference nor a regular expression"},
		{name: "--log-level", mirror: operator("    - name: gamma\n"), flags: "--log-level error",
			absent: "bundle and related images", check: func(t *testing.T, recs []*record.Record) {
				if got := bundlesOf(recs); strings.Join(got, " ") != "gamma.v0.2.0" {
					t.Fatalf("bundles %v", got)
				}
			}},
		{name: "--log-level info", mirror: operator("    - name: gamma\n"), flags: "--log-level=info", stderr: "1 packages, 3 bundle and related images"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n"+tc.mirror)
			r := sh(t, dir, []string{"UPDATE_URL_OVERRIDE=" + graphURL}, "ocm-plan -c isc.yaml "+tc.flags+" > plan.jsonl")
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("stderr does not say %q:\n%s", tc.stderr, r.stderr)
			}
			if tc.absent != "" && strings.Contains(r.stderr, tc.absent) {
				t.Fatalf("stderr says %q:\n%s", tc.absent, r.stderr)
			}
			if tc.check != nil {
				tc.check(t, records(t, sh(t, dir, nil, "cat plan.jsonl").stdout))
			}
		})
	}
}

// TestDefaultChannelMirrored: the rebuilt catalog carries the default
// channel the configuration names, and operator-registry's opm accepts it;
// plan and push share the default cache (no --cache anywhere).
func TestDefaultChannelMirrored(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	cat, err := fixture.OperatorCatalog(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf("mirror:\n  operators:\n  - catalog: %s\n    packages:\n    - name: epsilon\n      defaultChannel: v2\n      channels:\n      - name: v2\n", cat.Ref))
	r := sh(t, dir, nil, fmt.Sprintf("ocm-plan -c isc.yaml | ocm-push docker://%s > pushed.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	catRec := pushedCatalog(t, dir, "pushed.jsonl")
	fbc := readCatalog(t, dst.Host, "catalogs/ocm-index", catRec.Digest, filepath.Join(dir, "fbc"))
	if p := fbc.Packages["epsilon"]; p == nil || p.DefaultChannel != "v2" || len(p.Channels) != 1 {
		t.Fatalf("epsilon in the rebuilt catalog: %+v", p)
	}
	if out, err := opmValidate(t, filepath.Join(dir, "fbc")); err != nil {
		t.Fatalf("opm validate rejects the rebuilt catalog: %v\n%s", err, out)
	}
}

// TestOcMirrorDeleteList: a delete-images.yaml in oc-mirror v2's format
// (imageName, imageReference, type), one image named by tag and one by
// digest, deletes exactly those from the mirror; skopeo confirms.
func TestOcMirrorDeleteList(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+fmt.Sprintf("mirror:\n  additionalImages:\n  - name: %[1]s/ubi9/ubi:latest\n  - name: %[1]s/ubi9/ubi-minimal:latest\n  - name: %[1]s/library/alpine:3.20\n", src.Host))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | ocm-push docker://"+dst.Host+" > pushed.jsonl"); r.code != 0 {
		t.Fatalf("push exit %d", r.code)
	}
	alpine, _ := set.ByRepo("library/alpine")
	writeFile(t, filepath.Join(dir, "working-dir", "delete", "delete-images.yaml"), fmt.Sprintf(`kind: DeleteImageList
apiVersion: mirror.openshift.io/v2alpha1
items:
- imageName: %[1]s/ubi9/ubi-minimal:latest
  imageReference: docker://%[2]s/ubi9/ubi-minimal:latest
  type: generic
- imageName: %[1]s/library/alpine:3.20
  imageReference: docker://%[2]s/library/alpine@%[3]s
  type: generic
`, src.Host, dst.Host, alpine.Digest))
	r := sh(t, dir, nil, "ocm-delete --delete-yaml-file file://$PWD/working-dir/delete/delete-images.yaml docker://"+dst.Host)
	if r.code != 0 {
		t.Fatalf("delete exit %d", r.code)
	}
	for ref, want := range map[string]bool{
		dst.Host + "/ubi9/ubi-minimal:latest": false,
		dst.Host + "/library/alpine:3.20":     false,
		dst.Host + "/ubi9/ubi:latest":         true,
	} {
		_, err := testenv.SkopeoDigest(context.Background(), "docker://"+ref, "--tls-verify=false")
		if (err == nil) != want {
			t.Errorf("%s: present %v, want %v (%v)", ref, err == nil, want, err)
		}
	}
	// Run again: both are already gone, which is not an error.
	if r := sh(t, dir, nil, "ocm-delete --delete-yaml-file working-dir/delete/delete-images.yaml docker://"+dst.Host); r.code != 0 || !strings.Contains(r.stderr, "already gone") {
		t.Fatalf("second run exit %d", r.code)
	}
}
