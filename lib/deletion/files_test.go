package deletion

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestListPath: --delete-id names the file as oc-mirror does
// (delete-images-<id>.yaml); an id that is not a plain name (a path, a
// hidden file) is refused with ErrBadDeleteID.
func TestListPath(t *testing.T) {
	cases := []struct{ id, want string }{
		{"", "ws/delete/delete-images.yaml"},
		{"2024-06_cleanup.1", "ws/delete/delete-images-2024-06_cleanup.1.yaml"},
		{"../../etc/x", ""},
		{"a/b", ""},
		{".hidden", ""},
		{"two words", ""},
	}
	for _, c := range cases {
		got, err := ListPath("ws", c.id)
		if c.want == "" {
			if !errors.Is(err, ErrBadDeleteID) {
				t.Errorf("--delete-id %q: %q, %v; want ErrBadDeleteID", c.id, got, err)
			}
			continue
		}
		if err != nil || got != filepath.FromSlash(c.want) {
			t.Errorf("--delete-id %q: %q, %v; want %s", c.id, got, err, c.want)
		}
	}
}
