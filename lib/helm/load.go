package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/ocm-mirror/ocm/lib/capread"
)

// ErrBadChart is wrapped by every error about a chart's own content (an
// archive past its caps or that Helm cannot load, templates that fail or
// go past the render limits): bad input, not a failed image.
var ErrBadChart = errors.New("bad Helm chart")

// loadArchive loads a packaged chart with Helm's loader, once the archive
// is known to unpack within capread.Chart in all (subcharts included) and
// capread.ChartFile per file: Helm's loader holds every file in memory, so
// a small archive of zeros must be refused before it does. name names the
// archive in errors.
func loadArchive(archive []byte, name string) (*chart.Chart, error) {
	left := capread.Chart
	if err := checkUnpacked(archive, name, &left); err != nil {
		return nil, badChart{err}
	}
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		return nil, badChart{fmt.Errorf("%s: %w", name, err)}
	}
	return ch, nil
}

// checkUnpacked reads archive as Helm's loader will, counting what it
// unpacks against *left, and checks the archives of subcharts (charts/*.tgz)
// the same way, within the same total. A stream that is not a chart archive
// is left to Helm's loader to refuse.
func checkUnpacked(archive []byte, name string, left *int64) error {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil
	}
	defer zr.Close()
	tr := tar.NewReader(capread.Reader(zr, name+" unpacked", *left))
	for {
		h, err := tr.Next()
		if errors.Is(err, capread.ErrTooLarge) {
			return err
		} else if err != nil {
			return nil // the end, or damage Helm's loader names
		}
		if h.Size > capread.ChartFile {
			return &capread.TooLargeError{Name: fmt.Sprintf("%s: file %s", name, h.Name), Cap: capread.ChartFile}
		}
		dir, file := path.Split(h.Name)
		nested := strings.HasSuffix(dir, "/charts/") && (strings.HasSuffix(file, ".tgz") || strings.HasSuffix(file, ".tar.gz"))
		var sub bytes.Buffer
		w := io.Discard
		if nested {
			w = &sub
		}
		n, err := io.Copy(w, tr)
		*left -= n
		if errors.Is(err, capread.ErrTooLarge) {
			return err
		} else if err != nil {
			return nil
		}
		if nested {
			if err := checkUnpacked(sub.Bytes(), name+": "+h.Name, left); err != nil {
				return err
			}
		}
		if *left < 0 { // subcharts took what the outer archive had left
			return &capread.TooLargeError{Name: name + " unpacked", Cap: capread.Chart}
		}
	}
}
