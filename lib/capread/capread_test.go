package capread

import (
	"errors"
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
