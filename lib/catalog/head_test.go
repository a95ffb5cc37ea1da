package catalog

import (
	"strings"
	"testing"
)

// F15: a replaces cycle read "channel stable has 0 heads ()"; the error now
// says there is a cycle and names it.
func TestF15ReplacesCycleIsNamed(t *testing.T) {
	cases := []struct {
		name    string
		entries []Entry
		want    string // "" = head found
		head    string
	}{
		{"chain", []Entry{{Name: "a.v2", Replaces: "a.v1"}, {Name: "a.v1"}}, "", "a.v2"},
		{"two-cycle", []Entry{{Name: "a.v1", Replaces: "a.v2"}, {Name: "a.v2", Replaces: "a.v1"}}, "cycle (a.v1 -> a.v2 -> a.v1)", ""},
		{"cycle past the first entry", []Entry{{Name: "a.v0", Replaces: "a.v1"}, {Name: "a.v1", Replaces: "a.v2"}, {Name: "a.v2", Replaces: "a.v1", Skips: []string{"a.v0"}}}, "cycle (a.v1 -> a.v2 -> a.v1)", ""},
		{"skips only", []Entry{{Name: "a.v1", Skips: []string{"a.v2"}}, {Name: "a.v2", Skips: []string{"a.v1"}}}, "cycle (a.v1 -> a.v2)", ""},
		{"two heads", []Entry{{Name: "a.v1"}, {Name: "a.v2"}}, "has 2 heads (a.v1, a.v2)", ""},
		{"empty", nil, "has no entries", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := (&Channel{Name: "stable", Entries: c.entries}).Head()
			if c.want == "" {
				if err != nil || h != c.head {
					t.Fatalf("Head = %q, %v; want %q", h, err, c.head)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "0 heads") {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}
