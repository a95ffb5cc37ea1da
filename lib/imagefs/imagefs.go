// Package imagefs reads files out of an image's layers without unpacking the
// image: layers are streamed top-down, and a file found in an upper layer,
// or deleted there (whiteouts), hides the lower layers' copies.
package imagefs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/manifest"
)

// Source gives an image's manifests and blobs (store.Reader fits).
type Source interface {
	Manifest(ctx context.Context, digest string) ([]byte, string, error)
	Blob(ctx context.Context, digest string, size int64) (io.ReadCloser, error)
}

// Image is an image manifest with its config, resolved for one platform.
type Image struct {
	Digest   string
	Manifest *manifest.Manifest
	Config   Config
}

// Config holds the parts of an image config ocm reads.
type Config struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Labels     map[string]string `json:"Labels"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
	} `json:"config"`
}

// Resolve reads the image digest; an index resolves to its entry for
// platform ("linux/amd64"), or the first entry when platform is "".
func Resolve(ctx context.Context, src Source, digest, platform string) (*Image, error) {
	return resolve(ctx, src, digest, platform, 0)
}

func resolve(ctx context.Context, src Source, digest, platform string, depth int) (*Image, error) {
	if err := manifest.Nested(depth, digest); err != nil {
		return nil, err
	}
	body, mt, err := src.Manifest(ctx, digest)
	if err != nil {
		return nil, err
	}
	m, mt, err := manifest.Parse(body, mt)
	if err != nil {
		return nil, err
	}
	if manifest.IsIndex(mt) {
		var pick *manifest.Descriptor
		for i, d := range m.Manifests {
			if platform == "" || d.Platform.String() == platform {
				pick = &m.Manifests[i]
				break
			}
		}
		if pick == nil {
			return nil, fmt.Errorf("index %s has no %s image (it has %s)", digest, platform, strings.Join(m.Platforms(), ", "))
		}
		return resolve(ctx, src, pick.Digest, "", depth+1)
	}
	rc, err := src.Blob(ctx, m.Config.Digest, m.Config.Size)
	if err != nil {
		return nil, fmt.Errorf("image config %s: %w", m.Config.Digest, err)
	}
	defer rc.Close()
	cb, err := capread.All(rc, "image config "+m.Config.Digest, capread.ImageConfig)
	if err != nil {
		return nil, fmt.Errorf("image config %s: %w", m.Config.Digest, err)
	}
	img := &Image{Digest: digest, Manifest: m}
	if err := json.Unmarshal(cb, &img.Config); err != nil {
		return nil, fmt.Errorf("image config %s: %v", m.Config.Digest, err)
	}
	return img, nil
}

// ReadFiles returns the files under any of dirs (or named exactly) as the
// image's final filesystem has them, up to maxBytes in total.
func ReadFiles(ctx context.Context, src Source, img *Image, dirs []string, maxBytes int64) (map[string][]byte, error) {
	files := map[string][]byte{}
	var total int64
	err := EachFile(ctx, src, img, dirs, Ratio{}, func(p string, size int64, r io.Reader) error {
		if total+size > maxBytes {
			return &capread.TooLargeError{Name: "the files under " + strings.Join(dirs, ", ") + " of image " + img.Digest, Cap: maxBytes}
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		total += int64(len(b))
		files[p] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// EachFile streams the regular files under any of dirs (or named exactly) as
// the image's final filesystem has them to f, path (relative to the root)
// and size with the content, layer by layer from the top. Nothing is held
// but the paths settled. A ratio with Max > 0 stops a layer that
// decompresses to more than Max times its compressed size (a decompression
// bomb), once past RatioFloor bytes.
func EachFile(ctx context.Context, src Source, img *Image, dirs []string, ratio Ratio, f func(p string, size int64, r io.Reader) error) error {
	dirs = append([]string(nil), dirs...)
	for i, d := range dirs {
		dirs[i] = strings.Trim(path.Clean("/"+d), "/")
	}
	want := func(p string) bool {
		for _, d := range dirs {
			if p == d || strings.HasPrefix(p, d+"/") {
				return true
			}
		}
		return false
	}
	decided := map[string]bool{} // paths an upper layer already settled
	gone := map[string]bool{}    // paths an upper layer deleted, with all below
	var opaque []string          // dirs whose lower-layer contents are hidden
	hidden := func(p string) bool {
		if decided[p] {
			return true
		}
		for q := path.Dir(p); q != "." && q != "/"; q = path.Dir(q) {
			if gone[q] {
				return true
			}
		}
		for _, o := range opaque {
			if strings.HasPrefix(p, o+"/") {
				return true
			}
		}
		return false
	}
	layers := img.Manifest.Layers
	for i := len(layers) - 1; i >= 0; i-- {
		l := layers[i]
		if l.Foreign() {
			continue
		}
		var newOpaque []string
		err := eachEntry(ctx, src, l, ratio, func(h *tar.Header, r io.Reader) error {
			p := strings.Trim(path.Clean("/"+h.Name), "/")
			dir, base := path.Dir(p), path.Base(p)
			if base == ".wh..wh..opq" {
				newOpaque = append(newOpaque, dir)
				return nil
			}
			if strings.HasPrefix(base, ".wh.") {
				g := path.Join(dir, strings.TrimPrefix(base, ".wh."))
				decided[g], gone[g] = true, true
				return nil
			}
			if h.Typeflag == tar.TypeDir || !want(p) || hidden(p) {
				return nil
			}
			decided[p] = true
			if h.Typeflag != tar.TypeReg {
				return nil
			}
			return f(p, h.Size, r)
		})
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		// Opaque markers hide lower layers only, not the layer holding them.
		opaque = append(opaque, newOpaque...)
	}
	return nil
}

// RatioFloor is how much a layer may decompress to before its ratio is
// judged: small layers of tar padding compress far better than any config.
const RatioFloor int64 = 64 << 20

// Ratio is the most a layer may decompress to, as a multiple of its size,
// and the setting that raises it (named when a layer goes over).
type Ratio struct {
	Max      int64
	RaisedBy string
}

// RatioError is a layer that decompressed to more than the ratio allowed.
type RatioError struct {
	Layer    string
	Ratio    int64
	In, Out  int64
	RaisedBy string // the setting that raises the ratio
}

func (e *RatioError) Error() string {
	return fmt.Sprintf("layer %s decompressed to %d bytes from %d, more than %d times its size: a decompression bomb, not a catalog; fix: if the image is trusted, raise %s", e.Layer, e.Out, e.In, e.Ratio, e.RaisedBy)
}

// Is makes a RatioError a capread.ErrTooLarge.
func (e *RatioError) Is(target error) bool { return target == capread.ErrTooLarge }

type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type ratioReader struct {
	r     io.Reader
	in    *counter
	out   int64
	ratio Ratio
	layer string
}

func (r *ratioReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.out += int64(n)
	if r.out > RatioFloor && r.out > r.ratio.Max*r.in.n {
		return n, &RatioError{Layer: r.layer, Ratio: r.ratio.Max, In: r.in.n, Out: r.out, RaisedBy: r.ratio.RaisedBy}
	}
	return n, err
}

// eachEntry streams a layer's tar entries, whatever its compression.
func eachEntry(ctx context.Context, src Source, l manifest.Descriptor, ratio Ratio, f func(*tar.Header, io.Reader) error) error {
	rc, err := src.Blob(ctx, l.Digest, l.Size)
	if err != nil {
		return err
	}
	defer rc.Close()
	in := &counter{r: rc}
	br := bufio.NewReaderSize(in, 64<<10)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	if ratio.Max > 0 {
		r = &ratioReader{r: r, in: in, ratio: ratio, layer: l.Digest}
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			// Drain so the blob's digest is verified at EOF.
			_, err = io.Copy(io.Discard, rc)
			return err
		}
		if err != nil {
			return err
		}
		if err := f(h, tr); err != nil {
			return err
		}
	}
}
