package archive

import (
	"context"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// TestCompleteNamesTheMissingManifest: an image whose child manifest (or
// an attachment's) did not load fails naming that manifest and the archive
// that should have carried it; the digest comes from the cache's typed
// error, not from the error's text.
func TestCompleteNamesTheMissingManifest(t *testing.T) {
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(s string) string {
		d, err := c.PutBytes(context.Background(), []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg := put(`{}`)
	img := put(`{"schemaVersion":2,"mediaType":"` + manifest.OCIManifest + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfg + `","size":2}}`)
	index := func(children ...string) string {
		var entries []string
		for _, d := range children {
			entries = append(entries, `{"mediaType":"`+manifest.OCIManifest+`","digest":"`+d+`","size":1}`)
		}
		return put(`{"schemaVersion":2,"mediaType":"` + manifest.OCIIndex + `","manifests":[` + strings.Join(entries, ",") + `]}`)
	}
	lost := verify.Digest([]byte("a child manifest that did not load"))
	broken := index(img, lost)
	whole := index(img)

	cases := []struct {
		name  string
		rec   *record.Record
		where map[string]string
		want  []string // in the error; none: complete
	}{
		{name: "whole", rec: &record.Record{Digest: whole, MediaType: manifest.OCIIndex}},
		{name: "child in a missing archive", rec: &record.Record{Digest: broken, MediaType: manifest.OCIIndex},
			where: map[string]string{lost: "mirror_000002.tar"}, want: []string{lost, "mirror_000002.tar", "did not load"}},
		{name: "child in no archive", rec: &record.Record{Digest: broken, MediaType: manifest.OCIIndex},
			want: []string{lost, "in no archive of this set"}},
		{name: "attachment's child", rec: &record.Record{Digest: whole, MediaType: manifest.OCIIndex, Attachments: []record.Attachment{
			{Kind: "sbom", Digest: broken, MediaType: manifest.OCIIndex, Subject: whole},
		}}, want: []string{lost, "in no archive of this set"}},
		{name: "root not loaded", rec: &record.Record{Digest: lost, MediaType: manifest.OCIIndex},
			where: map[string]string{lost: "mirror_000001.tar"}, want: []string{lost, "mirror_000001.tar"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := (&Unpacker{Cache: c, Log: quiet}).complete(tc.rec, tc.where)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("an incomplete image passed")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}
