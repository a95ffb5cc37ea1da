package e2e

import (
	"archive/tar"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/internal/testenv"
	"github.com/ocm-mirror/ocm/lib/record"
)

// spy is a registry stand-in on 127.0.0.1 that answers the version check
// and 404 to the rest, and remembers every request it was sent.
type spy struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []string
}

func startSpy(t *testing.T) *spy {
	s := &spy{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Method+" "+r.URL.RawPath+" "+r.URL.Path)
		s.mu.Unlock()
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *spy) host() string { return strings.TrimPrefix(s.srv.URL, "http://") }

// beyondV2 lists requests other than the version check.
func (s *spy) beyondV2() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.reqs {
		if !strings.HasSuffix(r, " /v2/") {
			out = append(out, r)
		}
	}
	return out
}

const goodDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// F13: a record's digest or repository is checked before any URL is built
// from it; a tampered one stops the command with exit 2 and sends nothing.
func TestF13TamperedRecordsNeverReachTheRegistry(t *testing.T) {
	sp := startSpy(t)
	dir := t.TempDir()
	rec := func(src, extra string) string {
		return fmt.Sprintf(`{"v":1,"origin":"additional","source":%q,%s"status":"planned"}`, src, extra) + "\n"
	}
	src := sp.host() + "/m/app:1"
	cases := []struct {
		name, records, cmd, want string
	}{
		{"push: path in digest", rec(src, `"digest":"sha256:../../victim/manifests/x","destination":"m/app:1",`), "ocm-push docker://" + sp.host(), "field digest"},
		{"fetch: path in digest", rec(src, `"digest":"sha256:../../x",`), "ocm-fetch --cache cache", "field digest"},
		{"push: dot-dot destination", rec(src, `"digest":"`+goodDigest+`","destination":"m/../victim:1",`), "ocm-push docker://" + sp.host(), "field destination"},
		{"fetch: dot-dot source", rec(sp.host()+"/m/../victim:1", `"digest":"`+goodDigest+`",`), "ocm-fetch --cache cache", "field source"},
		{"delete generate: dot-dot destination", rec(src, `"digest":"`+goodDigest+`","destination":"m/../victim:1",`), "ocm-delete --generate docker://" + sp.host(), "field destination"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			writeFile(t, filepath.Join(dir, "in.jsonl"), c.records)
			r := sh(t, dir, nil, c.cmd+" < in.jsonl > out.jsonl")
			if r.code != 2 || !strings.Contains(r.stderr, "stdin:1: "+c.want) {
				t.Fatalf("exit %d, want 2 and stdin:1: %s; stderr:\n%s", r.code, c.want, r.stderr)
			}
			if got := sp.beyondV2(); len(got) > 0 {
				t.Fatalf("the registry was sent %q", got)
			}
		})
	}
	list := func(repo, digest string) string {
		return fmt.Sprintf("apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageList\nregistry: %s\nitems:\n- destination: %s/m/app:1\n  repository: %s\n  digest: %s\n", sp.host(), sp.host(), repo, digest)
	}
	for _, c := range []struct{ name, body, want string }{
		{"dot-dot repository", list("m/../victim", goodDigest), `items[0].repository "m/../victim"`},
		{"path in digest", list("m/app", "sha256:../../victim/manifests/"+goodDigest[7:]), "items[0].digest"},
	} {
		t.Run("delete list: "+c.name, func(t *testing.T) {
			writeFile(t, filepath.Join(dir, "delete-images.yaml"), c.body)
			r := sh(t, dir, nil, "ocm-delete --delete-yaml-file delete-images.yaml docker://"+sp.host())
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, want 2 and %q; stderr:\n%s", r.code, c.want, r.stderr)
			}
			if got := sp.beyondV2(); len(got) > 0 {
				t.Fatalf("the registry was sent %q", got)
			}
		})
	}
}

// F12: a control character in a record stops the reader (exit 2) and its
// error names the field; a registry's multi-line error text stays on one
// line in the summary and the error log.
func TestF12ControlCharactersCannotForgeLogLines(t *testing.T) {
	sp := startSpy(t)
	dir := t.TempDir()
	forged := `{"v":1,"origin":"additional","source":"` + sp.host() + `/m/app:1","digest":"` + goodDigest + `","destination":"m/app:1","package":"p\n12:00:00 ocm-push [INFO] pushed everything","bundle":"b","status":"planned"}` + "\n"
	writeFile(t, filepath.Join(dir, "in.jsonl"), forged)
	r := sh(t, dir, nil, "ocm-push docker://"+sp.host()+" < in.jsonl > out.jsonl")
	if r.code != 2 || !strings.Contains(r.stderr, `stdin:1: field package holds control character '\n'`) {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "\n12:00:00 ocm-push [INFO] pushed everything") {
		t.Fatal("the forged line reached stderr")
	}

	// A registry whose error message holds newlines: the image fails, and
	// every line of stderr and of the error log is ocm's own.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"no\n12:00:00 ocm-push [INFO] forged line\r\u001b[2J"}]}`)
	}))
	defer evil.Close()
	host := strings.TrimPrefix(evil.URL, "http://")
	writeFile(t, filepath.Join(dir, "in.jsonl"), `{"v":1,"origin":"additional","source":"`+host+`/m/app:1","digest":"`+goodDigest+`","destination":"m/app:1","status":"planned"}`+"\n")
	r = sh(t, dir, nil, "ocm-push --workspace ws docker://"+sp.host()+" < in.jsonl > out.jsonl")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "ws", "logs", "*.log"))
	if len(logs) != 1 {
		t.Fatalf("error logs: %v", logs)
	}
	elog, _ := os.ReadFile(logs[0])
	for name, text := range map[string]string{"stderr": r.stderr, "error log": string(elog)} {
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			if strings.HasPrefix(line, "12:00:00 ocm-push [INFO] forged") || strings.ContainsAny(line, "\r\x1b") {
				t.Errorf("%s has a forged line: %q", name, line)
			}
		}
		if !strings.Contains(text, "forged line") {
			t.Errorf("%s lost the registry's message", name)
		}
	}
	out := sh(t, dir, nil, "cat out.jsonl").stdout
	recs := records(t, out) // the failed record must read back
	if len(recs) != 1 || recs[0].Error == "" {
		t.Fatalf("records: %s", out)
	}
}

// F10: configuration and metadata are read up to a cap: an endless or huge
// input is refused, naming the file and the cap, with exit 2. The shell's
// ulimit keeps a regression from eating the machine: without the cap these
// runs die of it (or of the timeout) instead of printing the message.
func TestF10UnboundedReadsAreCapped(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  additionalImages:\n  - name: quay.io/a/b:1\n")
	// a table of contents of 65 MiB, over the 64 MiB cap
	f, err := os.Create(filepath.Join(dir, "mirror_000001.tar"))
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	const big = 65 << 20
	if err := tw.WriteHeader(&tar.Header{Name: "ocm/toc.json", Mode: 0o644, Size: big, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, strings.NewReader(strings.Repeat(" ", 1<<20)+"\n"), 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, zeros{}, big-(1<<20)); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	f.Close()

	cases := []struct {
		name, cmd, want string
	}{
		{"config", "ocm-plan -c /dev/zero", "/dev/zero is larger than 8 MiB"},
		{"auth file", "ocm-plan -c isc.yaml --authfile /dev/zero", "/dev/zero is larger than 8 MiB"},
		{"registries.conf", "ocm-plan -c isc.yaml --registries-conf /dev/zero", "/dev/zero is larger than 8 MiB"},
		{"catalog source template", "ocm-resources --catalog-source-template /dev/zero < /dev/null", "/dev/zero is larger than 8 MiB"},
		{"delete list", "ocm-delete --delete-yaml-file /dev/zero docker://127.0.0.1:1", "/dev/zero is larger than 8 MiB"},
		{"archive table of contents", "ocm-unpack mirror_000001.tar --cache cache", "member ocm/toc.json is larger than 64 MiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sh(t, dir, nil, "ulimit -v 2500000; timeout 60 "+c.cmd+" > out.jsonl")
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, want 2 and %q; stderr:\n%s", r.code, c.want, r.stderr)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Fatalf("error is not one line: %q", r.stderr)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// retyper is a proxy in front of a real registry that serves every
// manifest with Content-Type ct, whatever its body is.
func retyper(t *testing.T, upstream, ct string) string {
	u, _ := url.Parse("http://" + upstream)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if strings.Contains(resp.Request.URL.Path, "/manifests/") {
			resp.Header.Set("Content-Type", ct)
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// F2: an image manifest served with the index Content-Type, or a record
// whose mediaType says index, is an error naming both types at the first
// stage that sees it; before, every stage exited 0 and the archive held no
// layer.
func TestF2HeaderOrRecordCannotRetypeAManifest(t *testing.T) {
	const ociIndex = "application/vnd.oci.image.index.v1+json"
	src := testenv.Start(t, testenv.RegistryOptions{})
	set := populate(t, src)
	var img fixture.Image
	for _, i := range set.Images {
		if i.Tag != "" && len(i.Platforms) == 0 && i.Repo != "library/alpine" {
			img = i
			break
		}
	}
	if img.Repo == "" {
		t.Fatal("the fixture has no single-platform tagged image")
	}
	dir := t.TempDir()

	t.Run("registry header", func(t *testing.T) {
		proxy := retyper(t, src.Host, ociIndex)
		writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  additionalImages:\n  - name: "+proxy+"/"+img.Repo+":"+img.Tag+"\n")
		r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl")
		if r.code != 1 || !strings.Contains(r.stderr, "media type "+ociIndex+" is claimed for a manifest whose body is "+img.MediaType) {
			t.Fatalf("exit %d, want 1 naming both types; stderr:\n%s", r.code, r.stderr)
		}
		recs := records(t, sh(t, dir, nil, "cat plan.jsonl").stdout)
		if len(recs) != 1 || recs[0].Status != record.StatusFailed {
			t.Fatalf("records: %+v", recs)
		}
	})

	t.Run("record mediaType", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  additionalImages:\n  - name: "+src.Host+"/"+img.Repo+":"+img.Tag+"\n")
		if r := sh(t, dir, nil, "ocm-plan -c isc.yaml > plan.jsonl && ocm-fetch --cache good < plan.jsonl > /dev/null"); r.code != 0 {
			t.Fatalf("plan and fetch: exit %d", r.code)
		}
		tamper := fmt.Sprintf(`sed 's|"mediaType":"%s"|"mediaType":"%s"|' plan.jsonl > tampered.jsonl && grep -q '%s' tampered.jsonl`, img.MediaType, ociIndex, ociIndex)
		if r := sh(t, dir, nil, tamper); r.code != 0 {
			t.Fatal("could not retype the record")
		}
		want := "the record says mediaType " + ociIndex + " but manifest " + img.Digest + " is " + img.MediaType
		r := sh(t, dir, nil, "ocm-fetch --cache fresh < tampered.jsonl > fetched.jsonl")
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("fetch: exit %d, want 1 and %q; stderr:\n%s", r.code, want, r.stderr)
		}
		r = sh(t, dir, nil, "ocm-pack --cache good --out arch < tampered.jsonl > packed.jsonl")
		if r.code != 1 || !strings.Contains(r.stderr, "media type "+ociIndex+" is claimed for a manifest whose body is "+img.MediaType) {
			t.Errorf("pack: exit %d, want 1 naming both types; stderr:\n%s", r.code, r.stderr)
		}
	})
}

// F15: each wrong input gets exit 2 and a message that says what is wrong
// (not a misleading one, not exit 1 after the fact).
func TestF15MessagesAndExitCodes(t *testing.T) {
	sp := startSpy(t)
	dir := t.TempDir()
	rec := func(fields string) string {
		return `{"v":1,"origin":"additional","source":"` + sp.host() + `/m/app:1",` + fields + `}` + "\n"
	}
	files := map[string]string{
		"alias.yaml":                       head + "mirror:\n  additionalImages: &imgs\n  - name: quay.io/a/b:1\n  blockedImages: *imgs\n",
		"dotdot.yaml":                      head + "mirror:\n  additionalImages:\n  - name: 127.0.0.1:1/../../etc/passwd:latest\n",
		"afile":                            "x",
		"hist/" + ".ocm-pack-history.json": "{not json",
		"empty.tar":                        "",
		"garbage.tar":                      strings.Repeat("garbage\n", 200),
		"layout9/oci-layout":               `{"imageLayoutVersion":"9.9.9"}`,
		"no-destination.jsonl":             rec(`"digest":"` + goodDigest + `","status":"cached"`),
		"bad-destination.jsonl":            rec(`"digest":"` + goodDigest + `","destination":"M/App:1","status":"planned"`),
		"bad-target.jsonl":                 rec(`"digest":"` + goodDigest + `","destination":"m/app:1","status":"pushed","target":"mirror.example:5000/m/../../victim:1"`),
	}
	for name, body := range files {
		writeFile(t, filepath.Join(dir, name), body)
	}
	if r := sh(t, dir, nil, "mkdir -p cache && ocm-fetch --cache cache < /dev/null"); r.code != 0 {
		t.Fatalf("making an empty cache: exit %d", r.code)
	}
	cases := []struct {
		name, cmd string
		code      int
		want      string
	}{
		{"YAML alias", "ocm-plan -c alias.yaml", 2, "alias.yaml:6: YAML aliases (*imgs) are not supported"},
		{"dot-dot path in a reference", "ocm-plan -c dotdot.yaml", 2, `dotdot.yaml:5: mirror.additionalImages[0].name: bad image reference "127.0.0.1:1/../../etc/passwd:latest": path component ".."`},
		{"pack --out is a file", "ocm-pack --cache cache --out afile < /dev/null", 2, "--out afile is a file, not a directory"},
		{"resources --out is a file", "ocm-resources --out afile < /dev/null", 2, "--out afile is a file, not a directory"},
		{"damaged pack history", "ocm-pack --cache cache --out hist < /dev/null", 2, "hist/.ocm-pack-history.json"},
		{"empty archive", "ocm-unpack empty.tar --cache cache", 2, "empty.tar: not an ocm archive"},
		{"garbage archive", "ocm-unpack garbage.tar --cache cache", 2, "garbage.tar: not an ocm archive"},
		{"oci-layout 9.9.9", "ocm-fetch --cache layout9 < /dev/null", 2, `imageLayoutVersion "9.9.9", this ocm reads 1.x only`},
		{"fetch: destination push rejects", "ocm-fetch --cache cache < bad-destination.jsonl", 2, `stdin:1: field destination: destination "M/App:1"`},
		{"pack: destination push rejects", "ocm-pack --cache cache --out arch < bad-destination.jsonl", 2, `stdin:1: field destination: destination "M/App:1"`},
		{"fetch: no destination", "ocm-fetch --cache cache < no-destination.jsonl", 1, "record has no digest or destination"},
		{"pack: no destination", "ocm-pack --cache cache --out arch < no-destination.jsonl", 1, "record has no digest or destination"},
		{"resources: unchecked target", "ocm-resources --out res < bad-target.jsonl", 2, `stdin:1: field target: "mirror.example:5000/m/../../victim:1"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sh(t, dir, nil, c.cmd+" > out.jsonl")
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, want %d and %q; stderr:\n%s", r.code, c.code, c.want, r.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "res")); err == nil {
		t.Error("ocm-resources wrote resources for a tampered target")
	}
}
