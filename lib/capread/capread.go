// Package capread reads configuration and metadata whole, but never more
// than a cap: a hostile or mistaken input (/dev/zero, a 300 MB table of
// contents) is an error naming the input and the cap, not gigabytes of memory.
// Every whole-file or whole-body read of such input goes through here.
package capread

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Caps, far above any real input of the kind.
const (
	// Config: image set configurations, CatalogSource templates,
	// registries.conf, auth files, delete lists, journals and histories.
	Config int64 = 8 << 20
	// Manifest: an image manifest or index (real ones are a few KiB).
	Manifest int64 = 8 << 20
	// ImageConfig: an image's config blob.
	ImageConfig int64 = 16 << 20
	// Meta: an archive's table of contents or records member, the cache
	// index, an update graph response.
	Meta int64 = 64 << 20
	// HelmIndex: a Helm repository's index.yaml, decoded as it streams
	// (memory follows its largest chart); $OCM_HELM_INDEX_MAX_MIB raises it.
	HelmIndex int64 = 256 << 20
	// Chart and ChartFile: a Helm chart archive unpacked, and one file in
	// it. Helm's own caps (its loader's MaxDecompressedChartSize and
	// MaxDecompressedFileSize), so ocm refuses no chart Helm installs.
	Chart     int64 = 100 << 20
	ChartFile int64 = 5 << 20
)

// ErrTooLarge is wrapped by every cap error.
var ErrTooLarge = errors.New("input larger than its cap")

// TooLargeError names the input and the cap it went over.
type TooLargeError struct {
	Name string
	Cap  int64
	Fix  string // what raises the cap, if a setting does
}

func (e *TooLargeError) Error() string {
	fix := "check that it is the right input, not a device, a stream or a damaged file"
	if e.Fix != "" {
		fix = e.Fix
	}
	return fmt.Sprintf("%s is larger than %s, the most ocm reads of it; fix: %s", e.Name, human(e.Cap), fix)
}

func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// All reads r to its end; more than max bytes is a *TooLargeError naming name.
func All(r io.Reader, name string, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &TooLargeError{Name: name, Cap: max}
	}
	return b, nil
}

// Reader reads r as a stream, but at most max bytes: a read past them fails
// with a *TooLargeError naming name. For input consumed as it is read,
// such as an archive unpacked entry by entry.
func Reader(r io.Reader, name string, max int64) io.Reader {
	return &reader{r: r, name: name, max: max, left: max}
}

type reader struct {
	r         io.Reader
	name      string
	max, left int64
}

func (c *reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.left <= 0 { // at the cap: one more byte is one too many
		var one [1]byte
		n, err := io.ReadFull(c.r, one[:])
		if n > 0 {
			return 0, &TooLargeError{Name: c.name, Cap: c.max}
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// File reads the file at path, at most max bytes. Errors name the path; a
// file known to be too large is refused before it is read.
func File(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > max {
		return nil, &TooLargeError{Name: path, Cap: max}
	}
	b, err := All(f, path, max)
	if err != nil && !errors.Is(err, ErrTooLarge) {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return b, err
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
