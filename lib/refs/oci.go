package refs

import (
	"fmt"
	"path/filepath"
	"strings"
)

// OCIPrefix marks a source in a local OCI image layout (oci:///abs/path), as
// mirror.operators[].catalog may name a catalog.
const OCIPrefix = "oci://"

// IsOCI reports whether source names a local OCI image layout.
func IsOCI(source string) bool { return strings.HasPrefix(source, OCIPrefix) }

// OCIDir is the layout directory of an oci:///abs/path source. Records carry
// the absolute, clean path that ocm-plan resolved, so later stages (run from
// any directory) find the same layout.
func OCIDir(source string) (string, error) {
	dir, ok := strings.CutPrefix(source, OCIPrefix)
	if !ok {
		return "", fmt.Errorf("%q is not an oci:// source", source)
	}
	if dir == "" || !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return "", fmt.Errorf("oci source %q: the layout path must be absolute and clean (oci:///abs/path); fix: let ocm-plan write the record", source)
	}
	return dir, nil
}
