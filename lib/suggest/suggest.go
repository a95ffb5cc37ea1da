// Package suggest finds the known names closest to a misspelt one, for
// error messages that say what the user probably meant.
package suggest

import (
	"sort"
	"strings"
)

// Distance is the Levenshtein edit distance between a and b.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Closest orders known by distance to name (case-insensitive), closest
// first, ties alphabetical.
func Closest(name string, known []string) []string {
	out := append([]string(nil), known...)
	sort.Strings(out)
	l := strings.ToLower(name)
	sort.SliceStable(out, func(i, j int) bool {
		return Distance(l, strings.ToLower(out[i])) < Distance(l, strings.ToLower(out[j]))
	})
	return out
}
