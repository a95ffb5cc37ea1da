package capread

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestF10CappedReads(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	big := filepath.Join(dir, "big")
	os.WriteFile(small, []byte("12345678"), 0o644)
	os.WriteFile(big, []byte("123456789"), 0o644)
	cases := []struct {
		name, path string
		max        int64
		tooLarge   bool
	}{
		{"at the cap", small, 8, false},
		{"over the cap", big, 8, true},
		{"endless device", "/dev/zero", 1 << 20, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := File(c.path, c.max)
			if !c.tooLarge {
				if err != nil || int64(len(b)) != c.max {
					t.Fatalf("File = %d bytes, %v", len(b), err)
				}
				return
			}
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), human(c.max)) {
				t.Fatalf("error %q does not name the file and the cap", err)
			}
		})
	}
	if _, err := File(filepath.Join(dir, "absent"), 8); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestN4Reader: a stream is read up to its cap; one byte more is a
// *TooLargeError naming the input and the cap, /dev/zero included.
func TestN4Reader(t *testing.T) {
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	cases := []struct {
		name     string
		r        io.Reader
		max      int64
		want     int
		tooLarge bool
	}{
		{"under the cap", strings.NewReader("1234567"), 8, 7, false},
		{"at the cap", strings.NewReader("12345678"), 8, 8, false},
		{"over the cap", strings.NewReader("123456789"), 8, 8, true},
		{"endless device", zero, 1 << 20, 1 << 20, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := io.Copy(io.Discard, Reader(c.r, "the input", c.max))
			if n != int64(c.want) {
				t.Fatalf("read %d bytes, want %d", n, c.want)
			}
			if !c.tooLarge {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the input") || !strings.Contains(err.Error(), human(c.max)) {
				t.Fatalf("err = %v, want a cap error naming the input and %s", err, human(c.max))
			}
		})
	}
}
