package deletion

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ocm-mirror/ocm/lib/refs"
)

// ErrOutOfScope: the list names something outside the target given on the
// command line. Nothing is deleted; the caller treats it as bad input.
var ErrOutOfScope = errors.New("outside the target")

// CheckScope makes sure every item of l lies under mirror (its registry and
// prefix, as folded by maxNested) and that its destination, when given,
// names the same registry and repository. A delete-images.yaml is meant to
// be reviewed and may be edited; the target on the command line is the
// bound the administrator set, so an item outside it is refused before
// anything is deleted.
func CheckScope(l *List, mirror refs.Mirror, maxNested int) error {
	if l.Registry != mirror.Registry && len(l.Items) > 0 { // an empty list deletes nothing anywhere
		return fmt.Errorf("%w: the list was generated for registry %q, not %s; fix: generate it against this registry", ErrOutOfScope, l.Registry, mirror)
	}
	for i, it := range l.Items {
		if !mirror.Holds(it.Repository, maxNested) {
			hint := "remove the item or give the target the list was generated for"
			if maxNested > 0 || mirror.Prefix != "" {
				hint += ", with the --max-nested-paths given to ocm-push"
			}
			return fmt.Errorf("%w: items[%d] repository %q (digest %s) is not under %s; fix: %s", ErrOutOfScope, i, it.Repository, it.Digest, mirror, hint)
		}
		if it.Destination == "" {
			continue
		}
		host, rest, _ := strings.Cut(it.Destination, "/")
		path, _, err := refs.SplitDestination(rest)
		if host != l.Registry || err != nil || path != it.Repository {
			return fmt.Errorf("%w: items[%d] destination %q is not a tag of %s/%s; fix: restore the destination written by ocm-delete --generate, or remove the item", ErrOutOfScope, i, it.Destination, l.Registry, it.Repository)
		}
	}
	return nil
}
