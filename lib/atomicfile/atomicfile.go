// Package atomicfile writes files so that readers never see a partial one.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes b to path so that readers see the old file or the
// whole new one, never a part: temp file in the same directory, fsync, rename.
func WriteFile(path string, b []byte, perm os.FileMode) error {
	_, err := Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}, perm)
	return err
}

// Write streams fill into a temp file next to path and renames it into
// place once complete and synced. The temp name starts with ".tmp-" so a
// crash leaves only files that are obviously partial.
func Write(path string, fill func(io.Writer) error, perm os.FileMode) (n int64, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	cw := &countWriter{w: f}
	if err = fill(cw); err != nil {
		return 0, err
	}
	if err = f.Chmod(perm); err != nil {
		return 0, err
	}
	if err = f.Sync(); err != nil {
		return 0, err
	}
	if err = f.Close(); err != nil {
		return 0, err
	}
	if err = os.Rename(tmp, path); err != nil {
		return 0, err
	}
	// Make the rename itself durable.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
