package archive

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/store"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// TestExplainNamesTheMissingBlob: a record that failed for a blob (read
// from the archives, or a manifest the cache lacks afterwards) names that
// blob and the archive that should have carried it; the digest comes from
// the typed error, however deeply wrapped, not from the error's text.
func TestExplainNamesTheMissingBlob(t *testing.T) {
	lost := verify.Digest([]byte("a child manifest that did not load"))
	other := fmt.Errorf("disk full")
	cases := []struct {
		name  string
		err   error
		where map[string]string
		want  []string
	}{
		{name: "blob in a missing archive", err: fmt.Errorf("reading manifest: %w", &BlobError{Digest: lost, Err: store.ErrNotFound}),
			where: map[string]string{lost: "mirror_000002.tar"}, want: []string{lost, "mirror_000002.tar", "did not load"}},
		{name: "blob in no archive", err: &BlobError{Digest: lost, Err: store.ErrNotFound},
			want: []string{lost, "in no archive of this set", "fix: unpack the earlier archive sets first"}},
		{name: "damaged blob", err: fmt.Errorf("sbom of x: %w", &BlobError{Digest: lost, Archive: "mirror_000001.tar", Err: io.ErrUnexpectedEOF}),
			where: map[string]string{lost: "mirror_000001.tar"}, want: []string{lost, "mirror_000001.tar", "missing or damaged"}},
		{name: "manifest the cache lacks", err: fmt.Errorf("walking: %w", &cache.MissingError{Digest: lost}),
			want: []string{lost, "in no archive of this set"}},
		{name: "other errors pass as they are", err: other, want: []string{"disk full"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := explain(tc.err, tc.where).Error()
			for _, s := range tc.want {
				if !strings.Contains(got, s) {
					t.Errorf("error %q does not say %q", got, s)
				}
			}
		})
	}
}
