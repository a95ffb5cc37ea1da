package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

func releaseEnv(t *testing.T, ro fixture.ReleaseOptions) (*testenv.Registry, *fixture.Releases, string) {
	t.Helper()
	src, rs, srv := releaseEnvServer(t, ro)
	return src, rs, srv.URL
}

// releaseEnvServer is releaseEnv returning the server of the update graph
// and signature store, for tests that stop it.
func releaseEnvServer(t *testing.T, ro fixture.ReleaseOptions) (*testenv.Registry, *fixture.Releases, *httptest.Server) {
	t.Helper()
	src := testenv.Start(t, testenv.RegistryOptions{})
	rs, err := fixture.ReleaseSet(context.Background(), fixture.Options{Host: src.Host, LayerSize: 4096}, ro)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rs)
	t.Cleanup(srv.Close)
	// Every command of the test reaches the fixture's signature store and
	// trusts its key, as a user points ocm at a private store.
	pub, err := rs.Signer.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "release-key.asc")
	writeFile(t, keyFile, string(pub))
	t.Setenv("OCP_SIGNATURE_URL", srv.URL+fixture.SignaturesPath)
	t.Setenv("OCP_SIGNATURE_VERIFICATION_PK", keyFile)
	return src, rs, srv
}

// TestReleasesShortestPathMirrorToMirror: the shortest upgrade path across
// two chained channels, for amd64 and the multi-arch payload, mirrored with
// every component; skopeo confirms the digests.
func TestReleasesShortestPathMirrorToMirror(t *testing.T) {
	_, rs, graphURL := releaseEnv(t, fixture.ReleaseOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+`mirror:
  platform:
    architectures: [amd64, multi]
    channels:
    - name: stable-4.14
      minVersion: 4.14.0
      shortestPath: true
    - name: stable-4.15
      maxVersion: 4.15.3
      shortestPath: true
`)
	r := sh(t, dir, []string{"UPDATE_URL_OVERRIDE=" + graphURL}, fmt.Sprintf("ocm-plan -c isc.yaml | ocm-push docker://%s > pushed.jsonl", dst.Host))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	recs := records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout)
	payloads := map[string]bool{}
	components := 0
	for _, rec := range recs {
		if rec.Status != record.StatusPushed {
			t.Fatalf("%s: %s %s", rec.Source, rec.Status, rec.Error)
		}
		switch rec.Origin {
		case record.OriginRelease:
			payloads[rec.Destination] = true
			if got := skopeoDigest(t, "docker://"+rec.Target, "--tls-verify=false"); got != rec.Digest {
				t.Errorf("%s: %s, want %s", rec.Target, got, rec.Digest)
			}
		case record.OriginReleaseComponent:
			components++
			if !strings.HasPrefix(rec.Destination, "openshift/release:"+rec.Release+"-") {
				t.Errorf("component destination %s", rec.Destination)
			}
		}
	}
	var got []string
	for p := range payloads {
		got = append(got, p)
	}
	sort.Strings(got)
	var want []string
	for _, v := range []string{"4.14.0", "4.14.3", "4.14.5", "4.15.2", "4.15.3"} {
		want = append(want, "openshift/release-images:"+v+"-multi", "openshift/release-images:"+v+"-x86_64")
	}
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("payloads\n got %v\nwant %v", got, want)
	}
	if components != 10*20 {
		t.Fatalf("%d component records, want 200", components)
	}
	// Every component of 4.15.3 is in the mirror by digest.
	for _, c := range rs.Components["4.15.3"] {
		ref := fmt.Sprintf("docker://%s/openshift/release@%s", dst.Host, c.Digest)
		if got := skopeoDigest(t, ref, "--tls-verify=false"); got != c.Digest {
			t.Errorf("%s: %s", c.Name, got)
		}
	}
	if mp := rs.Payloads["4.15.3/multi"]; mp != "" {
		raw, err := testenv.Skopeo(context.Background(), "inspect", "--raw", "--tls-verify=false", "docker://"+dst.Host+"/openshift/release-images:4.15.3-multi")
		if err != nil || !strings.Contains(string(raw), "arm64") {
			t.Fatalf("multi payload: %v %s", err, raw)
		}
	}
}

// TestBrokenReleaseComponentStopsThePlan: a payload naming a component that
// does not exist stops ocm-plan with exit 1, naming release and component.
func TestBrokenReleaseComponentStopsThePlan(t *testing.T) {
	_, _, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 3, Broken: "4.15.3"})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  platform:\n    channels:\n    - name: stable-4.15\n")
	r := sh(t, dir, []string{"UPDATE_URL_OVERRIDE=" + graphURL}, "ocm-plan -c isc.yaml > plan.jsonl")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, "release 4.15.3: component missing-component") {
		t.Fatalf("stderr does not name the release and component:\n%s", r.stderr)
	}
	if out := sh(t, dir, nil, "cat plan.jsonl").stdout; out != "" {
		t.Fatalf("a failed release plan wrote records:\n%s", out)
	}
}

func TestUnknownReleaseVersion(t *testing.T) {
	_, _, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 2})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  platform:\n    channels:\n    - name: stable-4.15\n      minVersion: 4.15.9\n")
	r := sh(t, dir, []string{"UPDATE_URL_OVERRIDE=" + graphURL + "/api/upgrades_info/v1/graph"}, "ocm-plan -c isc.yaml > /dev/null")
	if r.code != 1 || !strings.Contains(r.stderr, "channel stable-4.15: minVersion 4.15.9 is not a release of this channel") {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
}

// TestGraphImage: graph: true builds the update graph image into the cache;
// push takes it from there; resources name it in the UpdateService.
func TestGraphImage(t *testing.T) {
	src, rs, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 2})
	if _, err := fixture.Additional(context.Background(), fixture.Options{Host: src.Host}); err != nil {
		t.Fatal(err)
	}
	dst := testenv.Start(t, testenv.RegistryOptions{})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  platform:\n    graph: true\n    channels:\n    - name: stable-4.15\n")
	env := []string{"UPDATE_URL_OVERRIDE=" + graphURL, "GRAPH_DATA_URL_OVERRIDE=" + graphURL + "/graph-data"}
	// No --cache: plan builds the image in the default cache
	// (HOME/.cache/ocm), where push finds it.
	r := sh(t, dir, env, fmt.Sprintf("ocm-plan -c isc.yaml --graph-base-image %s/ubi9/ubi:latest | ocm-push docker://%s | ocm-resources --out res > pushed.jsonl", src.Host, dst.Host))
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	if _, err := os.Stat(filepath.Join(dir, ".cache", "ocm", "oci-layout")); err != nil {
		t.Fatalf("default cache not used: %v", err)
	}
	var graph *record.Record
	for _, rec := range records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout) {
		if rec.Origin == record.OriginGraph {
			graph = rec
		}
	}
	if graph == nil || graph.Status != record.StatusPushed {
		t.Fatalf("graph record: %+v", graph)
	}
	target := "docker://" + dst.Host + "/openshift/graph-image:latest"
	if got := skopeoDigest(t, target, "--tls-verify=false"); got != graph.Digest {
		t.Fatalf("graph image digest %s, want %s", got, graph.Digest)
	}
	cfg, err := testenv.Skopeo(context.Background(), "inspect", "--config", "--tls-verify=false", target)
	if err != nil || !strings.Contains(string(cfg), "cincinnati-graph-data") {
		t.Fatalf("graph image config: %v\n%s", err, cfg)
	}
	// Mirror to mirror, without a cache for ocm-resources: the signature
	// ConfigMap is filled from the signature store.
	cm := sh(t, dir, nil, "cat res/signature-configmap.yaml").stdout
	for _, v := range []string{"4.15.3"} { // the channel head
		if d := rs.Payloads[v+"/amd64"]; !strings.Contains(cm, "sha256-"+strings.TrimPrefix(d, "sha256:")+"-1: ") {
			t.Errorf("signature-configmap.yaml has no signature of %s (%s):\n%s", v, d, cm)
		}
	}
	us := sh(t, dir, nil, "cat res/updateService.yaml")
	if !strings.Contains(us.stdout, "graphDataImage: "+dst.Host+"/openshift/graph-image:latest") || !strings.Contains(us.stdout, "releases: "+dst.Host+"/openshift/release-images") {
		t.Fatalf("updateService.yaml:\n%s", us.stdout)
	}
}

// TestGraphImageToDisk: the graph image ocm-plan builds into the cache goes
// through ocm-fetch (mirror to disk) without a source registry being asked
// for its attachments: it has no source registry (localhost/...) and
// nothing can be attached to an image ocm built.
func TestGraphImageToDisk(t *testing.T) {
	src, _, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 2})
	if _, err := fixture.Additional(context.Background(), fixture.Options{Host: src.Host}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  platform:\n    graph: true\n    channels:\n    - name: stable-4.15\n")
	env := []string{"UPDATE_URL_OVERRIDE=" + graphURL, "GRAPH_DATA_URL_OVERRIDE=" + graphURL + "/graph-data"}
	r := sh(t, dir, env, fmt.Sprintf("ocm-plan -c isc.yaml --cache cache --graph-base-image %s/ubi9/ubi:latest | ocm-fetch --cache cache > cached.jsonl", src.Host))
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	var graph *record.Record
	for _, rec := range records(t, sh(t, dir, nil, "cat cached.jsonl").stdout) {
		if rec.Origin == record.OriginGraph {
			graph = rec
		}
	}
	if graph == nil || graph.Status != record.StatusCached || len(graph.Attachments) != 0 {
		t.Fatalf("graph record: %+v", graph)
	}
}

// TestN10HostileGraphRelabelsARelease: an update graph (UPDATE_URL_OVERRIDE)
// that names the 4.15.3 payload 4.16.9 is refused: ocm-plan exits 1 with
// one line naming both versions and writes no record, where it used to
// plan 4.15.3's content as openshift/release-images:4.16.9-x86_64. The
// same graph's honest channel still plans.
func TestN10HostileGraphRelabelsARelease(t *testing.T) {
	_, rs, graphURL := releaseEnv(t, fixture.ReleaseOptions{Components: 2})
	relabelled := rs.Payloads["4.15.3/amd64"]
	rs.Channels["stable-4.16"] = fixture.Channel{Versions: []string{"4.16.9"}}
	rs.Payloads["4.16.9/amd64"] = relabelled
	dir := t.TempDir()
	env := []string{"UPDATE_URL_OVERRIDE=" + graphURL}
	for _, c := range []struct{ channel, version, want string }{
		{"stable-4.16", "4.16.9", "release 4.16.9 (" + relabelled + "): the update graph names this payload 4.16.9, but the payload is release \"4.15.3\" (release-manifests/release-metadata); fix: check the update graph"},
		{"stable-4.15", "4.15.3", ""},
	} {
		t.Run(c.channel, func(t *testing.T) {
			isc := writeFile(t, filepath.Join(dir, c.channel+".yaml"), head+fmt.Sprintf("mirror:\n  platform:\n    channels:\n    - name: %s\n      minVersion: %s\n      maxVersion: %s\n", c.channel, c.version, c.version))
			r := sh(t, dir, env, "ocm-plan -c "+isc+" > plan.jsonl")
			recs := records(t, sh(t, dir, nil, "cat plan.jsonl").stdout)
			if c.want == "" {
				if r.code != 0 || len(recs) == 0 || recs[0].Release != c.version || recs[0].Digest != relabelled {
					t.Fatalf("the honest channel: exit %d, %d records", r.code, len(recs))
				}
				return
			}
			if r.code != 1 || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, want 1 and %q", r.code, c.want)
			}
			if len(recs) != 0 {
				t.Fatalf("the relabelled release was planned: %s as %s", recs[0].Source, recs[0].Destination)
			}
		})
	}
}
