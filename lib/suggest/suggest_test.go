package suggest

import (
	"reflect"
	"testing"
)

func TestClosest(t *testing.T) {
	cases := []struct {
		a, b string
		d    int
	}{{"", "abc", 3}, {"kitten", "sitting", 3}, {"minVerison", "minVersion", 2}, {"same", "same", 0}}
	for _, c := range cases {
		if got := Distance(c.a, c.b); got != c.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
	got := Closest("fsat", []string{"stable", "fast", "candidate"})
	if !reflect.DeepEqual(got, []string{"fast", "stable", "candidate"}) {
		t.Errorf("Closest = %v", got)
	}
}
