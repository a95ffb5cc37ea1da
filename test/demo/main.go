// Command demo shows ocm end to end on this machine, as oc-mirror users work:
// a source site (a registry holding release payloads, an operator catalog
// and additional images, plus an update graph, a signature server and a
// Helm chart repository) is mirrored to disk and packed into archives; the
// source site is then stopped, and on the far side the archives are
// unpacked, pushed into a second registry and turned into cluster resources. A rerun moves nothing and skopeo checks
// every mirrored digest. Each step prints the exact command it runs: the
// built commands in bin/, chained by shell pipes. `make demo` runs it; the
// test beside it runs it with --brief.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// marker marks a folder as the demo's own, so a rerun may empty it.
const marker = ".ocm-demo"

// errUsage: bad flags or a folder the demo must not touch (exit 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "demo: FAILED:", err)
		os.Exit(1)
	}
}

type demo struct {
	out, bin string
	brief    bool
	start    time.Time
	env      []string // of the site the current half runs on
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	out := fs.String("out", "demo-out", "folder for everything the demo leaves (emptied first if an earlier demo made it)")
	bin := fs.String("bin", "bin", "folder of the built ocm commands (make build)")
	brief := fs.Bool("brief", false, "print the generated resources' names and kinds only (for CI)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q; fix: use --out DIR, --bin DIR, --brief", errUsage, fs.Arg(0))
	}
	d := &demo{brief: *brief, start: time.Now()}
	var err error
	if d.out, err = filepath.Abs(*out); err != nil {
		return err
	}
	if d.bin, err = filepath.Abs(*bin); err != nil {
		return err
	}
	for _, c := range []string{"ocm-plan", "ocm-fetch", "ocm-pack", "ocm-unpack", "ocm-push", "ocm-resources"} {
		if _, err := os.Stat(filepath.Join(d.bin, c)); err != nil {
			return fmt.Errorf("%w: --bin %s has no %s; fix: make build (or pass --bin DIR)", errUsage, d.bin, c)
		}
	}
	for _, c := range []string{"skopeo", "jq", testenv.Binary} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%w: %s is not installed; fix: make deps", errUsage, c)
		}
	}
	if err := d.prepareOut(); err != nil {
		return err
	}
	return d.story(ctx)
}

// prepareOut empties an earlier demo's folder; any other non-empty folder
// is left alone.
func (d *demo) prepareOut() error {
	entries, err := os.ReadDir(d.out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(d.out, marker)); err != nil {
			return fmt.Errorf("%w: --out %s is not empty and no earlier demo made it; fix: name a new or empty folder", errUsage, d.out)
		}
		if err := os.RemoveAll(d.out); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(d.out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.out, marker), []byte("made by ocm's demo (test/demo); a rerun empties this folder\n"), 0o644)
}

func (d *demo) story(ctx context.Context) error {
	d.chapter("1/6 the source site: a registry, an update graph, a signature server and a Helm chart repository")
	src, err := testenv.StartRegistry(ctx, filepath.Join(d.out, "source-registry"), testenv.RegistryOptions{})
	if err != nil {
		return err
	}
	defer src.Stop()
	d.say("source registry (docker-registry) on %s", src.Host)

	o := fixture.Options{Host: src.Host, LayerSize: 64 << 10}
	rs, err := fixture.ReleaseSet(ctx, o, fixture.ReleaseOptions{Components: 8})
	if err != nil {
		return fmt.Errorf("release fixture: %w", err)
	}
	d.say("release payloads %s/%s:4.15.2-x86_64 and :4.15.3-x86_64 (channel stable-4.15, 8 components each), signed with a test key", src.Host, fixture.PayloadRepo)
	// bin/opm (make tools) lets the catalog ship a real serve cache, as Red
	// Hat's do; the demo does not need it.
	if opm := filepath.Join(d.bin, "opm"); fileExists(opm) {
		o.Opm = opm
	}
	cat, err := fixture.OperatorCatalog(ctx, o)
	if err != nil {
		return fmt.Errorf("catalog fixture: %w", err)
	}
	d.say("operator catalog %s (packages aqua, elastic, gamma, ...: bundle, operator and operand images)", cat.Ref)
	if _, err := fixture.Additional(ctx, fixture.Options{Host: src.Host, LayerSize: 64 << 10}); err != nil {
		return fmt.Errorf("additional images: %w", err)
	}
	d.say("additional images: ubi9/ubi, ubi9/ubi-minimal, a 4-arch index multiarch/tools, Docker v2 types, library/alpine (blocked below)")
	// The chart names source images no other part of the configuration
	// does, so its records show origin helm rather than being merged into
	// the additional images'.
	chartImages := chartImages(src.Host)
	charts, err := fixture.NewHelmRepo(filepath.Join(d.out, "chart-repository"),
		fixture.HelmChart(chartName, chartVersion, chartImages[0], chartImages[1], chartImages[2]))
	if err != nil {
		return fmt.Errorf("helm chart repository: %w", err)
	}

	key, err := rs.Signer.PublicKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.out, "release-key.asc"), key, 0o644); err != nil {
		return err
	}
	// One web server of the source site serves the update graph, the
	// signatures and the chart repository, so stopping it stops all three.
	mux := http.NewServeMux()
	mux.Handle(chartsPath+"/", http.StripPrefix(chartsPath, charts))
	mux.Handle("/", rs)
	graph, err := serve(mux)
	if err != nil {
		return err
	}
	defer graph.Close()
	graphURL := "http://" + graph.Addr
	chartsURL := graphURL + chartsPath
	d.say("update graph and signature store on %s (a local stand-in for api.openshift.com and mirror.openshift.com)", graphURL)
	d.say("Helm chart repository %s (index.yaml and packaged charts): chart %s %s, whose default values name %s, %s and,\n    under a key of a custom resource that only the configuration's imagePaths finds, %s",
		chartsURL, chartName, chartVersion, chartImages[0], chartImages[1], chartImages[2])

	isc := fmt.Sprintf(`kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  platform:
    graph: true
    channels:
    - name: stable-4.15
      minVersion: 4.15.2
      maxVersion: 4.15.3
  operators:
  - catalog: %s
    packages:
    - name: aqua
      defaultChannel: fast
      channels:
      - name: fast
        minVersion: 1.3.0
    - name: gamma
  additionalImages:
  - name: %[2]s/ubi9/ubi:latest
  - name: %[2]s/ubi9/ubi-minimal:latest
  - name: %[2]s/multiarch/tools:1.0
  - name: %[2]s/docker/legacy:v1
  - name: %[2]s/library/alpine:3.20
  helm:
    repositories:
    - name: demo-charts
      url: %[3]s
      charts:
      - name: %[4]s
        version: %[5]s
        imagePaths:
        - "{.spec.sidecarRef}"
  blockedImages:
  - name: %[2]s/library/alpine
`, cat.Ref, src.Host, chartsURL, chartName, chartVersion)
	if err := os.WriteFile(filepath.Join(d.out, "isc.yaml"), []byte(isc), 0o644); err != nil {
		return err
	}
	d.say("the image set configuration, isc.yaml (oc-mirror v2's format):")
	d.show(isc)

	d.chapter("2/6 mirror to disk: plan, fetch into a cache, pack into archives")
	d.env = []string{
		"UPDATE_URL_OVERRIDE=" + graphURL,
		"GRAPH_DATA_URL_OVERRIDE=" + graphURL + "/graph-data",
		"OCP_SIGNATURE_URL=" + graphURL + fixture.SignaturesPath,
		"OCP_SIGNATURE_VERIFICATION_PK=release-key.asc",
	}
	d.say("pointing ocm at the local graph and signature store, and trusting the test key:\n  $ export %s", strings.Join(d.env, " \\\n      "))
	if _, err := d.sh(ctx, "what to mirror: every image, tag resolved to its digest, releases with their signatures, the catalog filtered and rebuilt",
		fmt.Sprintf("ocm-plan -c isc.yaml --cache cache --graph-base-image %s/ubi9/ubi:latest > plan.jsonl", src.Host)); err != nil {
		return err
	}
	plan, err := readRecords(filepath.Join(d.out, "plan.jsonl"))
	if err != nil {
		return err
	}
	planned, skipped := split(plan, record.StatusPlanned)
	d.say("plan.jsonl: %d images to mirror (%s), one JSON record each, and %d blocked (status skipped, kept for the record); the first:", len(planned), byOrigin(planned), len(skipped))
	d.show(firstLine(filepath.Join(d.out, "plan.jsonl")))
	if _, err := d.sh(ctx, fmt.Sprintf("the images of Helm chart %s %s, found by rendering it with its default values", chartName, chartVersion),
		`jq -r 'select(.origin=="helm") | "\(.source)  \(.digest)"' plan.jsonl`); err != nil {
		return err
	}
	d.say("(--loglevel warn below keeps a line per image off the screen; summaries, warnings and errors stay)")
	if _, err := d.sh(ctx, "copy them into the cache (an OCI layout) and pack archives to carry across the gap",
		"ocm-fetch --cache cache --loglevel warn < plan.jsonl | ocm-pack --cache cache --out archives > packed.jsonl"); err != nil {
		return err
	}
	if _, err := d.sh(ctx, "the archives", "ls -l archives && du -sh archives"); err != nil {
		return err
	}

	d.chapter("3/6 the air gap: the source site goes away")
	graph.Close()
	if err := src.Stop(); err != nil {
		return err
	}
	for _, addr := range []string{src.Host, graph.Addr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("%s still answers after it was stopped", addr)
		}
	}
	d.say("stopped the source registry (%s) and the graph and signature server with the chart repository (%s): both refuse connections now.\n    From here on only archives/ crosses, and no environment variable points anywhere.", src.Host, graph.Addr)
	d.env = nil
	dst, err := testenv.StartRegistry(ctx, filepath.Join(d.out, "mirror-registry"), testenv.RegistryOptions{})
	if err != nil {
		return err
	}
	defer dst.Stop()
	d.say("the disconnected site's mirror registry (docker-registry) on %s", dst.Host)

	d.chapter("4/6 disk to mirror: unpack, push, cluster resources")
	d2m := fmt.Sprintf("ocm-unpack archives --cache far | ocm-push --cache far --loglevel warn docker://%s/ocp | ocm-resources --cache far --out resources > pushed.jsonl", dst.Host)
	if _, err := d.sh(ctx, "verify and load the archives, push every image by digest then its tag, write the resources", d2m); err != nil {
		return err
	}
	pushed, err := readRecords(filepath.Join(d.out, "pushed.jsonl"))
	if err != nil {
		return err
	}
	pushed, others := split(pushed, record.StatusPushed)
	for _, r := range others {
		if r.Status != record.StatusSkipped {
			return fmt.Errorf("%s: %s %s", r.Source, r.Status, r.Error)
		}
	}
	if len(pushed) != len(planned) {
		return fmt.Errorf("%d images pushed, %d planned", len(pushed), len(planned))
	}
	d.say("pushed.jsonl: %d images pushed (%s)", len(pushed), byOrigin(pushed))
	if _, err := d.sh(ctx, "the chart's images on the mirror",
		`jq -r 'select(.origin=="helm" and .status=="pushed") | .target' pushed.jsonl`); err != nil {
		return err
	}
	if err := d.resources(); err != nil {
		return err
	}

	d.chapter("5/6 the same again: nothing moves")
	rerun, err := d.sh(ctx, "rerun disk to mirror as is", strings.Replace(d2m, "> pushed.jsonl", "> rerun.jsonl", 1))
	if err != nil {
		return err
	}
	m := pushSummary.FindStringSubmatch(rerun)
	if m == nil {
		return fmt.Errorf("the rerun's ocm-push printed no summary line")
	}
	if m[2] != "0" {
		return fmt.Errorf("the rerun moved %s blobs (%s), want none", m[2], m[1])
	}
	d.say("ocm-push: moved %s in %s blobs: the mirror already had everything", m[1], m[2])

	d.chapter("6/6 check the mirror with skopeo, an independent client")
	check, err := d.sh(ctx, "every pushed tag, read back from the mirror, hashes to the digest its record names",
		`jq -r 'select(.status=="pushed") | "\(.target) \(.digest)"' pushed.jsonl | xargs -P 4 -n 2 sh -c '[ "sha256:$(skopeo inspect --raw --tls-verify=false "docker://$0" | sha256sum | cut -c1-64)" = "$1" ] && echo match || echo "MISMATCH $0"' | sort | uniq -c`)
	if err != nil {
		return err
	}
	if want := fmt.Sprintf("%d match", len(pushed)); strings.Join(strings.Fields(check), " ") != want {
		return fmt.Errorf("skopeo check: %q, want %q", strings.TrimSpace(check), want)
	}
	d.say("all %d digests match", len(pushed))

	d.chapter("done in %s", time.Since(d.start).Round(time.Second))
	d.say(`everything is in %[1]s:
    isc.yaml                      the image set configuration
    chart-repository/             the source site's packaged Helm chart
    plan.jsonl, packed.jsonl      records of the source site's half
    cache/                        the source site's cache (an OCI image layout)
    archives/                     what crossed the gap
    far/                          the disconnected site's cache
    pushed.jsonl, rerun.jsonl     records of the far half
    resources/                    what to apply to the cluster (oc apply -f resources/)
    source-registry/, mirror-registry/   the two registries' storage (both stopped now)`, d.out)
	return nil
}

// The demo's Helm chart, served under chartsPath by the source site's web
// server.
const (
	chartsPath   = "/charts"
	chartName    = "hello"
	chartVersion = "1.0.0"
)

// chartImages are the chart's images on the source registry host: its
// Deployment's container and init container, and the reference only
// imagePaths finds. They are fixture.Additional's images the configuration
// does not list otherwise.
func chartImages(host string) [3]string {
	return [3]string{host + "/nested/a/b/c/deep:1.0", host + "/docker/list:v1", host + "/ubi9/ubi:9.4"}
}

// pushSummary is ocm-push's summary line on stderr.
var pushSummary = regexp.MustCompile(`ocm-push: moved (.+?) in (\d+) blobs`)

// resources prints the generated cluster resources.
func (d *demo) resources() error {
	files, err := filepath.Glob(filepath.Join(d.out, "resources", "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("ocm-resources wrote no resources")
	}
	sort.Strings(files)
	d.say("the cluster resources in resources/:")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		kinds := regexp.MustCompile(`(?m)^kind: (\S+)`).FindAllStringSubmatch(string(b), -1)
		var ks []string
		for _, k := range kinds {
			ks = append(ks, k[1])
		}
		fmt.Printf("\n  --- %s (%s)\n", filepath.Base(f), strings.Join(ks, ", "))
		if d.brief {
			continue
		}
		text := string(b)
		if filepath.Base(f) == "signature-configmap.yaml" {
			text = elideSignatures(text)
		}
		d.show(text)
	}
	return nil
}

// elideSignatures shortens the base64 signatures of the ConfigMap, which
// would fill the screen.
func elideSignatures(y string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(y))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if k, v, ok := strings.Cut(l, ": "); ok && len(v) > 60 {
			l = k + ": " + v[:40] + "... (" + fmt.Sprint(len(v)) + " characters of base64)"
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// sh prints and runs script in the demo folder with bin/ first on PATH,
// showing its stderr as it comes; it returns its stdout and stderr.
func (d *demo) sh(ctx context.Context, title, script string) (string, error) {
	d.say("%s\n  $ %s", title, script)
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -o pipefail; "+script)
	cmd.Dir = d.out
	cmd.Env = append(os.Environ(), "PATH="+d.bin+":"+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, d.env...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(os.Stdout, &buf)
	cmd.Stderr = io.MultiWriter(os.Stderr, &buf)
	t := time.Now()
	if err := cmd.Run(); err != nil {
		return buf.String(), fmt.Errorf("%s: %w", script, err)
	}
	fmt.Printf("  (%.1fs)\n", time.Since(t).Seconds())
	return buf.String(), nil
}

func (d *demo) chapter(format string, args ...any) {
	fmt.Printf("\n=== "+format+"\n", args...)
}

func (d *demo) say(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}

// show prints text indented.
func (d *demo) show(text string) {
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Println("    " + l)
	}
}

// serve starts the update graph and signature store on a free port.
func serve(h http.Handler) (*http.Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &http.Server{Addr: l.Addr().String(), Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go s.Serve(l)
	return s, nil
}

// split returns the records of status st and the others.
func split(recs []*record.Record, st record.Status) (in, out []*record.Record) {
	for _, r := range recs {
		if r.Status == st {
			in = append(in, r)
		} else {
			out = append(out, r)
		}
	}
	return in, out
}

func readRecords(path string) ([]*record.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return record.ReadAll(f, path)
}

// byOrigin counts records by origin: "12 release, 9 operator, ...".
func byOrigin(recs []*record.Record) string {
	n := map[string]int{}
	for _, r := range recs {
		n[string(r.Origin)]++
	}
	var keys []string
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
	}
	return strings.Join(parts, ", ")
}

func firstLine(path string) string {
	b, _ := os.ReadFile(path)
	l, _, _ := strings.Cut(string(b), "\n")
	return l
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
