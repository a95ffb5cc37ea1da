package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/config"
)

// entry is one file of a chart archive built by hostileArchive: data, or
// zeros bytes of zeros.
type entry struct {
	name  string
	data  string
	zeros int64
}

// hostileArchive packs entries as a chart archive. Zeros are written as
// repeated gzip members of one MiB of zeros (about 1 KiB each), so a 3 GiB
// file costs 3 MB and no time to build, as a decompression bomb does.
func hostileArchive(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var mib bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&mib, gzip.BestCompression)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	var out bytes.Buffer
	member := func(b []byte) {
		zw := gzip.NewWriter(&out)
		zw.Write(b)
		zw.Close()
	}
	for _, e := range entries {
		var hdr bytes.Buffer
		tw := tar.NewWriter(&hdr)
		size := int64(len(e.data)) + e.zeros
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Flush()
		member(append(hdr.Bytes(), e.data...))
		for n := e.zeros; n > 0; n -= 1 << 20 {
			if n >= 1<<20 {
				out.Write(mib.Bytes())
			} else {
				member(make([]byte, n))
			}
		}
		if pad := size % 512; pad != 0 {
			member(make([]byte, 512-pad))
		}
	}
	member(make([]byte, 1024)) // the end of the tar stream
	return out.Bytes()
}

const chartYAML = "apiVersion: v2\nname: bomb\nversion: 1.0.0\n"

// TestN4HostileChartArchives: a chart archive that unpacks past Helm's own
// caps (a 3 MB .tgz of one 3 GiB file, files adding up past the total, a
// bomb nested as a subchart) makes Collect fail with an error naming the
// chart and the cap, instead of crashing or running out of memory; a values
// schema that refers to itself, to a URL or to a local file is never
// evaluated (no crash, no request); a normal chart packed the same way still
// gives its images.
func TestN4HostileChartArchives(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Write([]byte(`{"type":"object"}`))
	}))
	defer srv.Close()
	defer func() {
		if n := asked.Load(); n != 0 {
			t.Errorf("a chart's values schema made %d requests to a URL it named", n)
		}
	}()
	schemaURL := srv.URL
	deploy := "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: {{ .Values.image }}\n"
	many := []entry{{name: "bomb/Chart.yaml", data: chartYAML}}
	for i := 0; i < 30; i++ {
		many = append(many, entry{name: "bomb/files/f" + string(rune('a'+i)), zeros: 4 << 20})
	}
	nested := hostileArchive(t, entry{name: "sub/Chart.yaml", data: "apiVersion: v2\nname: sub\nversion: 1.0.0\n"},
		entry{name: "sub/templates/zero.yaml", zeros: 3 << 30})
	cases := []struct {
		name    string
		archive []byte
		want    []string // in the error, else the images
		images  []string
	}{
		{name: "3 GiB file", archive: hostileArchive(t, entry{name: "bomb/Chart.yaml", data: chartYAML}, entry{name: "bomb/templates/zero.yaml", zeros: 3 << 30}),
			want: []string{"bomb.tgz", "templates/zero.yaml", "larger than 5 MiB"}},
		{name: "files past the total", archive: hostileArchive(t, many...),
			want: []string{"bomb.tgz", "larger than 100 MiB"}},
		{name: "nested bomb", archive: hostileArchive(t, entry{name: "bomb/Chart.yaml", data: chartYAML}, entry{name: "bomb/charts/sub-1.0.0.tgz", data: string(nested)}),
			want: []string{"bomb.tgz", "sub-1.0.0.tgz", "larger than 5 MiB"}},
		// The schema is never evaluated (see renderImages), so neither a
		// cycle nor a remote $ref can crash the plan or reach anything.
		{name: "schema refers to itself", archive: hostileArchive(t, entry{name: "bomb/Chart.yaml", data: chartYAML},
			entry{name: "bomb/values.yaml", data: "image: r.io/a:1\n"}, entry{name: "bomb/values.schema.json", data: `{"$ref":"#"}`},
			entry{name: "bomb/templates/pod.yaml", data: deploy}),
			images: []string{"r.io/a:1 bomb-1.0.0"}},
		{name: "schema refers to a URL and a file", archive: hostileArchive(t, entry{name: "bomb/Chart.yaml", data: chartYAML},
			entry{name: "bomb/values.yaml", data: "image: r.io/a:1\n"},
			entry{name: "bomb/values.schema.json", data: `{"allOf":[{"$ref":"` + schemaURL + `/s.json"},{"$ref":"file:///etc/passwd"}]}`},
			entry{name: "bomb/templates/pod.yaml", data: deploy}),
			images: []string{"r.io/a:1 bomb-1.0.0"}},
		{name: "normal chart", archive: hostileArchive(t, entry{name: "bomb/Chart.yaml", data: chartYAML},
			entry{name: "bomb/values.yaml", data: "image: r.io/a:1\n"}, entry{name: "bomb/templates/pod.yaml", data: deploy}),
			images: []string{"r.io/a:1 bomb-1.0.0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bomb.tgz")
			if err := os.WriteFile(path, tc.archive, 0o644); err != nil {
				t.Fatal(err)
			}
			set, err := (&Collector{}).Collect(context.Background(), &config.Helm{Local: []config.HelmChart{{Name: "bomb", Path: path}}})
			if tc.images != nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := refs(set.Images); !reflect.DeepEqual(got, tc.images) {
					t.Fatalf("images = %v, want %v", got, tc.images)
				}
				return
			}
			if err == nil {
				t.Fatalf("Collect succeeded, want an error naming %q", tc.want)
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
			if !errors.Is(err, ErrBadChart) {
				t.Fatalf("error %q is not ErrBadChart", err)
			}
			if strings.Contains(tc.want[len(tc.want)-1], "larger than") && !errors.Is(err, capread.ErrTooLarge) {
				t.Fatalf("error %q is not a cap error", err)
			}
		})
	}
}

// Hostile templates: a string doubled in a loop (all memory in a few
// steps, inside one template action) and ranges nested three deep (10^15
// turns writing nothing).
const (
	doubling    = `{{ $s := "0123456789abcdef" }}{{ range until 64 }}{{ $s = print $s $s }}{{ end }}{{ $s }}`
	nestedRange = `{{ range until 100000 }}{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}{{ end }}`
)

// TestN5HostileTemplates: each hostile template fails within the render
// limits, with an error naming the chart and the setting that raises the
// limit, and the renderer's peak memory stays near its budget; ocm's own
// process is untouched.
func TestN5HostileTemplates(t *testing.T) {
	lim := Limits{Timeout: 3 * time.Second, MemoryMiB: 256}
	cases := []struct {
		name, template, setting string
	}{
		{"doubling", doubling, "--helm-render-memory-mib"},
		{"nested range", nestedRange, "--helm-render-timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bomb.tgz")
			archive := hostileArchive(t, entry{name: "bomb/Chart.yaml", data: chartYAML}, entry{name: "bomb/templates/t.yaml", data: tc.template})
			if err := os.WriteFile(path, archive, 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := (&Collector{Limits: lim}).Collect(context.Background(), &config.Helm{Local: []config.HelmChart{{Name: "bomb", Path: path}}})
			took := time.Since(start)
			var le *LimitError
			if !errors.As(err, &le) || !errors.Is(err, ErrBadChart) || !strings.Contains(err.Error(), "bomb-1.0.0") || !strings.Contains(err.Error(), tc.setting) {
				t.Fatalf("err = %v, want a render limit error naming the chart and %s", err, tc.setting)
			}
			t.Log(err)
			if took > lim.Timeout+10*time.Second {
				t.Fatalf("took %s, limit %s", took, lim.Timeout)
			}
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
				t.Fatal(err)
			}
			// Maxrss (KiB) of the largest renderer so far: the budget plus
			// the runtime's own (about 100 MiB) at most.
			if peak := ru.Maxrss << 10; peak > (lim.MemoryMiB+200)<<20 {
				t.Fatalf("renderer peak RSS %d MiB, budget %d MiB", peak>>20, lim.MemoryMiB)
			}
			t.Logf("took %s, renderers' peak RSS %d MiB", took.Round(time.Millisecond), ru.Maxrss>>10)
		})
	}
}

// TestN5LimitsAreChecked: limits that are not positive are refused, naming
// both settings.
func TestN5LimitsAreChecked(t *testing.T) {
	for _, l := range []Limits{{Timeout: -time.Second, MemoryMiB: 1}, {Timeout: time.Second, MemoryMiB: -1}} {
		if err := l.Check(); err == nil || !strings.Contains(err.Error(), "--helm-render-timeout") || !strings.Contains(err.Error(), "--helm-render-memory-mib") {
			t.Errorf("Check(%+v) = %v", l, err)
		}
	}
	if err := DefaultLimits.Check(); err != nil {
		t.Error(err)
	}
	for _, args := range [][]string{{"--helm-render-timeout", "0s"}, {"--helm-render-timeout", "-1m"}, {"--helm-render-memory-mib", "0"}, {"--helm-render-memory-mib", "lots"}} {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		FlagsVar(fs)
		if err := fs.Parse(args); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: err = %v, want it refused", args, err)
		}
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	l := FlagsVar(fs)
	if err := fs.Parse([]string{"--helm-render-timeout", "5m", "--helm-render-memory-mib", "4096"}); err != nil || *l != (Limits{Timeout: 5 * time.Minute, MemoryMiB: 4096}) {
		t.Errorf("parsed %+v, %v", *l, err)
	}
}
