package e2e

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// tool returns bin/NAME, built by make tools from tools/ (opm, catalogquery,
// cosign, helm). A missing tool fails the test, never skips it: CI builds
// them before the tests run.
func tool(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found; fix: make tools", p)
	}
	return p
}

// served is what a catalog server answered over the gRPC registry API
// (bin/catalogquery's output).
type served struct {
	Packages []string `json:"packages"`
	Bundles  []struct {
		Package, Channel, Name string
	} `json:"bundles"`
	// Channels: each channel's head and what GetBundleForChannel (a
	// Subscription to it) resolves to.
	Channels []struct {
		Package, Name, Head, Bundle string
		Default                     bool
	} `json:"channels"`
	startup time.Duration // from opm's start to its first full answer
	command []string      // as started, re-rooted
}

// bundleNames are the distinct bundles served, sorted.
func (s *served) bundleNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, b := range s.Bundles {
		if !seen[b.Name] {
			seen[b.Name] = true
			out = append(out, b.Name)
		}
	}
	sort.Strings(out)
	return out
}

// serveCatalog starts the catalog image ref (linux/amd64) as a CatalogSource
// pod would: its filesystem extracted from the registry (whiteouts honoured),
// its own entrypoint and command run by bin/opm with absolute paths re-rooted
// at the extracted tree, /tmp there as TMPDIR, and a free port. It asks the
// server what it serves with bin/catalogquery, then stops it.
func serveCatalog(t *testing.T, ref string) *served {
	t.Helper()
	opm, query := tool(t, "opm"), tool(t, "catalogquery")
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := extract(mutate.Extract(img), root); err != nil {
		t.Fatalf("extracting %s: %v", ref, err)
	}
	argv := append(append([]string(nil), cf.Config.Entrypoint...), cf.Config.Cmd...)
	if len(argv) < 2 || path.Base(argv[0]) != "opm" || argv[1] != "serve" {
		t.Fatalf("%s does not start opm serve: %q", ref, argv)
	}
	// The image's opm is ours: the fixture ships no binary.
	args := []string{}
	for _, a := range argv[1:] {
		args = append(args, reroot(root, a))
	}
	port, pprof := freePort(t), freePort(t)
	args = append(args, "--port="+strconv.Itoa(port), "--pprof-addr=127.0.0.1:"+strconv.Itoa(pprof),
		"--termination-log="+filepath.Join(t.TempDir(), "termination-log"))
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(opm, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+filepath.Join(root, "tmp"))
	logf, err := os.Create(filepath.Join(t.TempDir(), "opm.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-exited: // a server that died answers nothing: stop asking
			cancel()
		case <-ctx.Done():
		}
	}()
	out, qerr := exec.CommandContext(ctx, query, "--addr", "127.0.0.1:"+strconv.Itoa(port), "--wait", "3m").Output()
	took := time.Since(start)
	stop()
	log, _ := os.ReadFile(logf.Name())
	if qerr != nil {
		msg := ""
		var ee *exec.ExitError
		if errors.As(qerr, &ee) {
			msg = string(ee.Stderr)
		}
		t.Fatalf("catalog %s does not serve: %v %s\nopm %s\nopm's log:\n%s", ref, qerr, msg, strings.Join(args, " "), log)
	}
	s := &served{startup: took, command: append([]string{opm}, args...)}
	if err := json.Unmarshal(out, s); err != nil {
		t.Fatalf("catalogquery: %v\n%s", err, out)
	}
	t.Logf("served %s in %v: %s", ref, took.Round(time.Millisecond), out)
	return s
}

// reroot points an absolute path argument (/p or --flag=/p) into root.
func reroot(root, a string) string {
	if strings.HasPrefix(a, "/") {
		return filepath.Join(root, a)
	}
	if f, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(f, "-") && strings.HasPrefix(v, "/") {
		return f + "=" + filepath.Join(root, v)
	}
	return a
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// extract writes a flattened image filesystem (mutate.Extract's tar) into
// root with the modes of the entries: opm's cache digest covers them.
func extract(rc io.ReadCloser, root string) error {
	defer rc.Close()
	tr := tar.NewReader(rc)
	var dirs []*tar.Header
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		n := path.Clean("/" + h.Name)
		if n == "/" {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, h)
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Chmod(p, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(p)
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: entry type %c not handled", h.Name, h.Typeflag)
		}
	}
	// Directory modes last: a read-only directory would refuse its files.
	for _, h := range dirs {
		p := filepath.Join(root, filepath.FromSlash(path.Clean("/"+h.Name)))
		if err := os.Chmod(p, os.FileMode(h.Mode).Perm()); err != nil {
			return err
		}
	}
	return nil
}
