package refs

import "strings"

// Holds reports whether repo (a repository path under the mirror host) is
// under this mirror's prefix, as Repo places it with maxNested. Destructive
// commands use it to stay inside the target they were given. How deep the
// repository is does not matter, except where folding makes the prefix part
// of the last component.
//
// Components are compared whole ("m/../x" and "mx/a" are not under "m"), and
// a repository that breaks the reference grammar is held by no mirror.
// Folding with maxNested at or below the prefix's depth joins the prefix's
// tail into the last component: prefix "m/n", maxNested 2 holds "m/n-a-b"
// but not "m/nx" or "m/n".
func (m Mirror) Holds(repo string, maxNested int) bool {
	if repo == "" || checkPath(repo) != nil {
		return false
	}
	if m.Prefix == "" {
		return true
	}
	pre, parts := strings.Split(m.Prefix, "/"), strings.Split(repo, "/")
	if maxNested <= 0 || maxNested > len(pre) {
		if len(parts) <= len(pre) {
			return false
		}
		for i, p := range pre {
			if parts[i] != p {
				return false
			}
		}
		return true
	}
	// The prefix itself is folded: maxNested-1 components kept, the rest of
	// the prefix starts the last component.
	if len(parts) != maxNested {
		return false
	}
	for i := 0; i < maxNested-1; i++ {
		if parts[i] != pre[i] {
			return false
		}
	}
	return strings.HasPrefix(parts[maxNested-1], strings.Join(pre[maxNested-1:], "-")+"-")
}
