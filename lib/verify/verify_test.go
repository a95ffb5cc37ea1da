package verify

import (
	"io"
	"strings"
	"testing"
)

func TestVerifies(t *testing.T) {
	d := Digest([]byte("abc"))
	other := Digest([]byte("abd"))
	known, _ := NewReader(io.NopCloser(strings.NewReader("abc")), d, 3)
	unknown, _ := NewReader(io.NopCloser(strings.NewReader("abc")), d, -1)
	for _, c := range []struct {
		name   string
		r      *Reader
		digest string
		size   int64
		want   bool
	}{
		{"same digest and size", known, d, 3, true},
		{"any size wanted", known, d, -1, true},
		{"other size", known, d, 4, false},
		{"other digest", known, other, 3, false},
		{"size wanted, reader checks none", unknown, d, 3, false},
		{"no size either side", unknown, d, -1, true},
	} {
		if got := c.r.Verifies(c.digest, c.size); got != c.want {
			t.Errorf("%s: Verifies = %v, want %v", c.name, got, c.want)
		}
	}
}
