// Package atomicfile writes files so that readers never see a partial one.
package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// TempPrefix starts the name of every temp file this package makes.
const TempPrefix = ".tmp-"

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
// place once complete and synced. The temp file is locked while it exists
// under its temp name (see Temp), so a crash leaves only files that are
// obviously partial and that CleanStale can tell from live ones.
func Write(path string, fill func(io.Writer) error, perm os.FileMode) (n int64, err error) {
	dir := filepath.Dir(path)
	f, err := Temp(dir, filepath.Base(path))
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
		f.Close()
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
	// Renamed while still open and locked: the temp name never stands
	// unlocked for a cleaner to take for a dead writer's.
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

// Temp creates a file named TempPrefix+name+"-<random>" in dir and holds an
// exclusive flock on it until the file is closed. The kernel drops the lock
// when its process dies, even by SIGKILL, so a temp file nobody holds locked
// was left by a dead process: that, not the file's age or a PID in its name
// (PIDs are reused, and a slow writer may keep a file for hours), is what
// CleanStale goes by.
func Temp(dir, name string) (*os.File, error) {
	for {
		f, err := os.CreateTemp(dir, TempPrefix+name+"-*")
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		// A cleaner may have taken the file between its creation and the
		// lock: then it is unlinked, and we start again.
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil || st.Nlink > 0 {
			return f, err
		}
		f.Close()
	}
}

// CleanStale removes the temp files in dir whose writers are gone (nobody
// holds their lock) and returns their names. Temp files of live writers, in
// this process or any other, are left alone.
func CleanStale(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), TempPrefix) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		gone, err := removeIfUnlocked(p)
		if err != nil {
			return removed, err
		}
		if gone {
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}

func removeIfUnlocked(p string) (bool, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // renamed or removed meanwhile
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // a live writer holds it
		}
		return false, err
	}
	// Still the file we locked under that name (not renamed into place
	// and its name reused)?
	locked, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Lstat(p)
	if err != nil || !os.SameFile(locked, now) {
		return false, nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return true, nil
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
