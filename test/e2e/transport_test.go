package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// proxyRequest is what a recordingProxy was asked.
type proxyRequest struct {
	Method, Target string
	Authorization  string
}

// recordingProxy is an HTTP proxy on 127.0.0.1 that refuses CONNECT (so
// HTTPS never gets through) and answers every plain HTTP request itself with
// a Basic challenge, the way a hostile network would to harvest credentials.
// Nothing it is asked for is ever contacted.
type recordingProxy struct {
	URL string
	mu  sync.Mutex
	got []proxyRequest
}

func startRecordingProxy(t *testing.T) *recordingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{URL: "http://" + ln.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.URL.String()
		if r.Method == http.MethodConnect {
			target = r.Host
		}
		p.mu.Lock()
		p.got = append(p.got, proxyRequest{Method: r.Method, Target: target, Authorization: r.Header.Get("Authorization")})
		p.mu.Unlock()
		if r.Method == http.MethodConnect {
			http.Error(w, "CONNECT refused", http.StatusForbidden)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *recordingProxy) requests() []proxyRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]proxyRequest(nil), p.got...)
}

// env points a command's HTTP and HTTPS traffic at the proxy.
func (p *recordingProxy) env() []string {
	return []string{"HTTP_PROXY=" + p.URL, "HTTPS_PROXY=" + p.URL, "http_proxy=" + p.URL, "https_proxy=" + p.URL, "NO_PROXY=", "no_proxy="}
}

// TestF1CleartextCredentials: with TLS verification on, registries at a
// private address or a *.localhost name were tried over plain HTTP when
// HTTPS failed, and the auth file's password went there in clear. Now
// nothing but HTTPS leaves for them (the proxy sees only refused CONNECTs),
// for plan sources and push destinations alike; with verification off the
// plain HTTP fallback is kept.
func TestF1CleartextCredentials(t *testing.T) {
	const secret = "s3cret-password-f1"
	hosts := []string{"10.99.0.1:5000", "172.20.0.9:5000", "192.168.77.1:5000", "mirror.localhost:5000"}
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()

	var auths []string
	for _, h := range hosts {
		auths = append(auths, fmt.Sprintf("%q:{\"auth\":%q}", h, base64.StdEncoding.EncodeToString([]byte("mirror-user:"+secret))))
	}
	writeFile(t, filepath.Join(dir, "auth.json"), `{"auths":{`+strings.Join(auths, ",")+`}}`)
	var extra []string
	for _, h := range hosts {
		extra = append(extra, h+"/app/one:v1")
	}
	writeFile(t, filepath.Join(dir, "isc-private.yaml"), "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n"+
		"  - name: "+strings.Join(extra, "\n  - name: ")+"\n")
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl"); r.code != 0 {
		t.Fatalf("plan exit %d", r.code)
	}

	// checkClean fails on any plain HTTP request to the proxy, and on any
	// credential it saw; it wants CONNECTs to every host (the proxy was used).
	checkClean := func(t *testing.T, p *recordingProxy, hosts []string) {
		t.Helper()
		connected := map[string]bool{}
		for _, q := range p.requests() {
			if q.Method == http.MethodConnect {
				connected[q.Target] = true
				continue
			}
			t.Errorf("plain HTTP sent with TLS verification on: %s %s (Authorization: %q)", q.Method, q.Target, q.Authorization)
		}
		for _, h := range hosts {
			if !connected[h] {
				t.Errorf("no HTTPS attempt to %s went through the proxy: the test proves nothing (saw %v)", h, p.requests())
			}
		}
	}

	t.Run("plan sources", func(t *testing.T) {
		p := startRecordingProxy(t)
		r := sh(t, dir, p.env(), "ocm-plan --authfile auth.json -c isc-private.yaml > private-plan.jsonl")
		if r.code == 0 {
			t.Errorf("plan of unreachable sources exited 0")
		}
		checkClean(t, p, hosts)
		if !strings.Contains(r.stderr, "TLS verification is on") {
			t.Errorf("no message says why plain HTTP was not tried:\n%s", r.stderr)
		}
		if strings.Contains(r.stderr, secret) {
			t.Error("the password appears in the log")
		}
	})
	for _, h := range hosts {
		t.Run("push to "+h, func(t *testing.T) {
			p := startRecordingProxy(t)
			r := sh(t, dir, p.env(), "ocm-push --authfile auth.json docker://"+h+"/mirror < plan.jsonl > /dev/null")
			if r.code == 0 {
				t.Errorf("push to an unreachable mirror exited 0")
			}
			checkClean(t, p, []string{h})
		})
	}
	t.Run("registries.conf insecure mirror keeps plain HTTP", func(t *testing.T) {
		p := startRecordingProxy(t)
		writeFile(t, filepath.Join(dir, "registries.conf"), "[[registry]]\nlocation = \"source.example.com\"\n\n[[registry.mirror]]\nlocation = \"10.99.0.1:5000\"\ninsecure = true\n")
		writeFile(t, filepath.Join(dir, "isc-mirrored.yaml"), "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  - name: source.example.com/app/one:v1\n")
		sh(t, dir, p.env(), "ocm-plan --registries-conf registries.conf -c isc-mirrored.yaml > /dev/null")
		plain := 0
		for _, q := range p.requests() {
			switch {
			case q.Method == http.MethodConnect:
			case strings.HasPrefix(q.Target, "http://10.99.0.1:5000/"):
				plain++
			default:
				t.Errorf("plain HTTP to a registry not marked insecure: %s %s", q.Method, q.Target)
			}
		}
		if plain == 0 {
			t.Errorf("no plain HTTP request to the insecure mirror: %v", p.requests())
		}
	})
	t.Run("verification off keeps the plain HTTP fallback", func(t *testing.T) {
		p := startRecordingProxy(t)
		h := hosts[0]
		sh(t, dir, p.env(), "ocm-push --dest-tls-verify=false --authfile auth.json docker://"+h+"/mirror < plan.jsonl > /dev/null")
		plain := 0
		for _, q := range p.requests() {
			if q.Method != http.MethodConnect && strings.HasPrefix(q.Target, "http://"+h+"/") {
				plain++
			}
		}
		if plain == 0 {
			t.Errorf("no plain HTTP request with --dest-tls-verify=false: %v", p.requests())
		}
	})
}

// failingProxy forwards to a registry on 127.0.0.1 and answers 500 to the
// requests fail picks, counting them.
type failingProxy struct {
	Host   string
	mu     sync.Mutex
	failed []string
}

func startFailingProxy(t *testing.T, target string, fail func(*http.Request) bool) *failingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &failingProxy{Host: ln.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		director(r)
		r.Host = host // upload Locations point back through the proxy
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail(r) {
			p.mu.Lock()
			p.failed = append(p.failed, r.Method+" "+r.URL.Path)
			p.mu.Unlock()
			http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected"}]}`, http.StatusInternalServerError)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *failingProxy) failures() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.failed...)
}

var retriesRe = regexp.MustCompile(`(\d+) retries`)

// TestNestedRetries: the copier retried around the registry client, which
// retried too, so one failing request was sent up to --retries squared
// times. Retries now happen once, in the client: with --retries 3 a
// manifest PUT, or a blob upload (POST and PUT), that keeps failing with
// 500 is tried exactly 3 times, and the summary counts 2 retries, one per
// request sent again.
func TestNestedRetries(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(src.Host, set))
	// One single-arch image, one blob at a time: the first failure ends
	// the image before any other request could fail.
	if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | grep '/ubi9/ubi-minimal:latest' > plan.jsonl"); r.code != 0 {
		t.Fatalf("plan exit %d", r.code)
	}
	tests := []struct {
		name string
		fail func(*http.Request) bool
	}{
		{"manifest PUT", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
		}},
		{"blob upload", func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/")
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startFailingProxy(t, dst.URL(), tc.fail)
			r := sh(t, dir, nil, fmt.Sprintf("ocm-push --retries 3 --blob-workers 1 docker://%s/run%d < plan.jsonl > /dev/null", p.Host, i))
			if r.code != 1 {
				t.Errorf("exit %d, want 1 (the image failed)", r.code)
			}
			got := p.failures()
			if len(got) != 3 {
				t.Errorf("the failing request was sent %d times with --retries 3, want 3: %v", len(got), got)
			}
			m := retriesRe.FindStringSubmatch(r.stderr)
			if m == nil {
				t.Fatalf("no retry count in the summary:\n%s", r.stderr)
			}
			if n, _ := strconv.Atoi(m[1]); n != len(got)-1 {
				t.Errorf("summary says %d retries; the registry saw %d requests, %d of them sent again", n, len(got), len(got)-1)
			}
		})
	}
}

// TestSourceReadsTriedRetriesTimes: reads that keep failing at the source
// (manifest or blob GET answering 500) are each sent at most --retries
// times by ocm-push, and exactly that many for the one that ends the
// image, whose error says after how many tries it failed.
func TestSourceReadsTriedRetriesTimes(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	dst := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	tests := []struct {
		name string
		fail func(*http.Request) bool
	}{
		{"manifest GET", func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/")
		}},
		{"blob GET", func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var on atomic.Bool // off while planning through the proxy
			p := startFailingProxy(t, src.URL(), func(r *http.Request) bool { return on.Load() && tc.fail(r) })
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(p.Host, set))
			if r := sh(t, dir, nil, "ocm-plan -c isc.yaml | grep '/ubi9/ubi-minimal:latest' > plan.jsonl"); r.code != 0 {
				t.Fatalf("plan exit %d", r.code)
			}
			on.Store(true)
			r := sh(t, dir, nil, fmt.Sprintf("ocm-push --retries 3 --blob-workers 1 docker://%s/src%d < plan.jsonl > pushed.jsonl", dst.Host, i))
			if r.code != 1 {
				t.Errorf("exit %d, want 1 (the image failed)", r.code)
			}
			sent := map[string]int{}
			for _, f := range p.failures() {
				sent[f]++
			}
			exact := 0
			for req, n := range sent {
				if n > 3 {
					t.Errorf("%s sent %d times with --retries 3", req, n)
				}
				if n == 3 {
					exact++
				}
			}
			if exact == 0 {
				t.Errorf("no failing request was sent 3 times: %v", sent)
			}
			recs := records(t, sh(t, dir, nil, "cat pushed.jsonl").stdout)
			if len(recs) != 1 || recs[0].Status != record.StatusFailed || !strings.Contains(recs[0].Error, "failed after 3 tries") {
				t.Fatalf("record does not say the image failed after 3 tries: %+v", recs)
			}
			t.Logf("failing requests, times sent: %v; record error: %s", sent, recs[0].Error)
		})
	}
}

// stallingProxy forwards to a registry on 127.0.0.1; the first GET of each
// blob gets its headers and half its body, then nothing more: the
// connection stays open and silent until the client gives up.
type stallingProxy struct {
	Host    string
	mu      sync.Mutex
	stalled map[string]bool
}

func startStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{Host: ln.Addr().String(), stalled: map[string]bool{}}
	release := make(chan struct{})
	rp := httputil.NewSingleHostReverseProxy(u)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		director(r)
		r.Host = host
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		stall := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") && !p.stalled[r.URL.Path]
		if stall {
			p.stalled[r.URL.Path] = true
		}
		p.mu.Unlock()
		if !stall {
			rp.ServeHTTP(w, r)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target+r.URL.RequestURI(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.CopyN(w, resp.Body, max(resp.ContentLength/2, 1))
		w.(http.Flusher).Flush()
		select { // silent, connection open
		case <-r.Context().Done():
		case <-release:
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { close(release); srv.Close() })
	return p
}

func (p *stallingProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.stalled)
}

// TestF7StalledTransfer: a source that sends half of each blob and goes
// silent kept ocm-fetch waiting forever. With --idle-timeout the stalled
// reads end, the downloads resume where they stopped, the run completes
// and the summary says how many requests stalled.
func TestF7StalledTransfer(t *testing.T) {
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populateSized(t, src, 64<<10)
	p := startStallingProxy(t, src.URL())
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), additionalISC(p.Host, set))
	r := sh(t, dir, nil, "ocm-plan --idle-timeout 2s -c isc.yaml > plan.jsonl && timeout 300 ocm-fetch --idle-timeout 2s --cache cache < plan.jsonl > fetched.jsonl")
	if r.code != 0 {
		t.Fatalf("exit %d (124: still hanging after 300 s)", r.code)
	}
	if p.count() == 0 {
		t.Fatal("no blob was stalled: the test proves nothing")
	}
	if !regexp.MustCompile(`\d+ requests stalled`).MatchString(r.stderr) {
		t.Errorf("the summary does not say requests stalled:\n%s", r.stderr)
	}
	t.Logf("%d blobs stalled once", p.count())
	if err := os.MkdirAll(filepath.Join(dir, "copy"), 0o755); err != nil {
		t.Fatal(err)
	}
	cached := 0
	for _, rec := range records(t, sh(t, dir, nil, "cat fetched.jsonl").stdout) {
		if rec.Status != record.StatusCached {
			continue
		}
		cached++
		if strings.Contains(rec.MediaType, "docker") {
			continue // containers/image reads only OCI-typed entries by name
		}
		// skopeo copies every blob out of the cache, checking its digest.
		out := filepath.Join(dir, "copy", strconv.Itoa(cached))
		if _, err := testenv.Skopeo(context.Background(), "copy", "--all", "oci:"+filepath.Join(dir, "cache")+":"+rec.Source, "dir:"+out); err != nil {
			t.Errorf("skopeo copy %s out of the cache: %v", rec.Source, err)
		}
	}
	if cached != len(set.Images)-2 {
		t.Errorf("%d cached, want %d", cached, len(set.Images)-2)
	}
}
