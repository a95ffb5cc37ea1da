package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
)

// RecordFiles is --input and --output: records read from and written to
// files instead of stdin and stdout, for where no shell redirects them (a
// container's command in Kubernetes). The output appears whole or not at all.
type RecordFiles struct {
	Input, Output string
	in            *os.File
	tmp           *os.File
}

// RecordFilesVar adds --input (in) and --output (out) to fs.
func RecordFilesVar(fs *pflag.FlagSet, in, out bool) *RecordFiles {
	f := &RecordFiles{}
	f.Register(fs, in, out)
	return f
}

// Register adds --input (in) and --output (out) to fs.
func (f *RecordFiles) Register(fs *pflag.FlagSet, in, out bool) {
	if in {
		fs.StringVar(&f.Input, "input", "", "read records from this file instead of stdin")
	}
	if out {
		fs.StringVar(&f.Output, "output", "", "write records to this file instead of stdout (whole or not at all: a temp file renamed at the end)")
	}
}

// Open returns the record input and output; errors name the flag (exit 2).
func (f *RecordFiles) Open() (io.Reader, io.Writer, error) {
	var in io.Reader = os.Stdin
	var out io.Writer = os.Stdout
	if f.Input != "" {
		fh, err := os.Open(f.Input)
		if err != nil {
			return nil, nil, fmt.Errorf("--input: %w; fix: name a records file (e.g. one ocm-plan --output wrote)", err)
		}
		f.in, in = fh, fh
	}
	if f.Output != "" {
		t, err := atomicfile.Temp(filepath.Dir(f.Output), filepath.Base(f.Output))
		if err != nil {
			f.Close(false)
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the temp file's name means nothing to the user
			}
			return nil, nil, fmt.Errorf("--output %s: cannot create it in %s: %w; fix: name a file in an existing, writable directory", f.Output, filepath.Dir(f.Output), err)
		}
		f.tmp, out = t, t
	}
	return in, out, nil
}

// Close closes the files; with keep, the output is synced and renamed into
// place, else removed.
func (f *RecordFiles) Close(keep bool) error {
	if f.in != nil {
		f.in.Close()
		f.in = nil
	}
	if f.tmp == nil {
		return nil
	}
	t := f.tmp
	f.tmp = nil
	defer t.Close()
	if !keep {
		return os.Remove(t.Name())
	}
	err := t.Chmod(0o644)
	if err == nil {
		err = t.Sync()
	}
	if err == nil {
		// Renamed while open and locked, as atomicfile.Write does.
		err = os.Rename(t.Name(), f.Output)
	}
	if err != nil {
		os.Remove(t.Name())
		return fmt.Errorf("--output %s: %w", f.Output, err)
	}
	if d, derr := os.Open(filepath.Dir(f.Output)); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
