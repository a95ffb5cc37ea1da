package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostileChart packs a chart named bomb whose files are files (name:
// content) and, if zeros > 0, a templates/zero.yaml of that many zero
// bytes, written as repeated gzip members of one MiB of zeros: a
// decompression bomb of a few MB.
func hostileChart(t *testing.T, files map[string]string, zeros int64) []byte {
	t.Helper()
	var out bytes.Buffer
	member := func(b []byte) {
		zw := gzip.NewWriter(&out)
		zw.Write(b)
		zw.Close()
	}
	header := func(name string, size int64) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Flush()
		return b.Bytes()
	}
	files["Chart.yaml"] = "apiVersion: v2\nname: bomb\nversion: 1.0.0\n"
	for name, data := range files {
		b := append(header("bomb/"+name, int64(len(data))), data...)
		member(append(b, make([]byte, (512-len(data)%512)%512)...))
	}
	if zeros > 0 {
		var mib bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&mib, gzip.BestCompression)
		zw.Write(make([]byte, 1<<20))
		zw.Close()
		member(header("bomb/templates/zero.yaml", zeros<<20))
		for i := int64(0); i < zeros; i++ {
			out.Write(mib.Bytes())
		}
	}
	member(make([]byte, 1024))
	return out.Bytes()
}

// TestN4N5HostileCharts: ocm-plan given a hostile local chart (a 3 MB
// archive of a 3 GiB file, a
// template doubling a string, ranges nested three deep) exits 2 within a
// bounded time and memory, with one line naming the chart and the cap or
// the setting that raises it.
func TestN4N5HostileCharts(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		zeros int64 // MiB
		flags string
		want  []string
	}{
		{name: "decompression bomb", zeros: 3 << 10, want: []string{"bomb.tgz", "templates/zero.yaml", "larger than 5 MiB"}},
		{name: "doubling", files: map[string]string{"templates/t.yaml": `{{ $s := "0123456789abcdef" }}{{ range until 64 }}{{ $s = print $s $s }}{{ end }}{{ $s }}`},
			flags: "--helm-render-memory-mib 256", want: []string{"bomb-1.0.0", "--helm-render-memory-mib", "256 MiB"}},
		{name: "nested range", files: map[string]string{"templates/t.yaml": `{{ range until 100000 }}{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}{{ end }}`},
			flags: "--helm-render-timeout 3s", want: []string{"bomb-1.0.0", "--helm-render-timeout", "3s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.files == nil {
				tc.files = map[string]string{}
			}
			writeFile(t, filepath.Join(dir, "bomb.tgz"), string(hostileChart(t, tc.files, tc.zeros)))
			writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  helm:\n    local:\n    - name: bomb\n      path: bomb.tgz\n")
			cmd := planCmd(dir, strings.Fields(tc.flags)...)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			t.Logf("exit %v after %s\n%s", err, took.Round(time.Millisecond), errb.String())
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr does not say %q", w)
				}
			}
			if lines := strings.Count(strings.TrimSpace(errb.String()), "\n") + 1; lines != 1 {
				t.Errorf("%d lines on stderr, want one", lines)
			}
			if took > 60*time.Second {
				t.Errorf("took %s", took)
			}
			// Peak RSS of ocm-plan and its renderer (the largest of them).
			peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss >> 10
			t.Logf("peak RSS %d MiB", peak)
			if peak > 400 {
				t.Errorf("peak RSS %d MiB", peak)
			}
		})
	}
}

// TestN5SignalDuringRender: SIGTERM or SIGINT while a chart renders (a
// template that never ends, under the default 2m deadline) ends ocm-plan at
// once with exit 130, and its renderer with it.
func TestN5SignalDuringRender(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			spin := map[string]string{"templates/t.yaml": `{{ range until 100000 }}{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}{{ end }}`}
			writeFile(t, filepath.Join(dir, "bomb.tgz"), string(hostileChart(t, spin, 0)))
			writeFile(t, filepath.Join(dir, "isc.yaml"), head+"mirror:\n  helm:\n    local:\n    - name: bomb\n      path: bomb.tgz\n")
			cmd := planCmd(dir)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			time.Sleep(1500 * time.Millisecond) // the renderer is spinning by now
			if n := len(running(filepath.Join(binDir, "ocm-plan"))); n != 2 {
				t.Fatalf("%d ocm-plan processes, want ocm-plan and its renderer\n%s", n, errb.String())
			}
			sent := time.Now()
			cmd.Process.Signal(sig)
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("ocm-plan still running 10s after %s\n%s", sig, errb.String())
			}
			t.Logf("exit %v %s after the signal\n%s", err, time.Since(sent).Round(time.Millisecond), errb.String())
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 130 {
				t.Fatalf("exit %v, want 130", err)
			}
			if !strings.Contains(errb.String(), "interrupted") {
				t.Errorf("stderr does not say interrupted")
			}
			// The renderer (ocm-plan run again) is gone too.
			for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				left := running(filepath.Join(binDir, "ocm-plan"))
				if len(left) == 0 {
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("ocm-plan processes still running after the signal: %v", left)
				}
			}
		})
	}
}

// running lists the processes running exe.
func running(exe string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if e, err := os.Readlink(p + "/exe"); err == nil && e == exe {
			out = append(out, filepath.Base(p))
		}
	}
	return out
}

// planCmd runs ocm-plan -c isc.yaml in dir with a cache there, as sh does.
func planCmd(dir string, flags ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "ocm-plan"), append([]string{"-c", "isc.yaml", "--cache", "cache"}, flags...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+dir, "XDG_CACHE_HOME=", "OC_MIRROR_CACHE=", "REGISTRY_AUTH_FILE=", "CONTAINERS_REGISTRIES_CONF=")
	return cmd
}
