package locate

import (
	"context"
	"errors"
	"testing"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// TestLocate: the cache when it holds the image (unless the stage writes
// there), a built image nowhere else, an oci:// source from its layout,
// else the source registry.
func TestLocate(t *testing.T) {
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	held, err := c.PutBytes(context.Background(), []byte(`{"schemaVersion":2}`))
	if err != nil {
		t.Fatal(err)
	}
	absent := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	src := registry.New(registry.Options{TLSVerify: true})
	const (
		fromCache = "cache"
		fromDir   = "layout"
		fromRepo  = "registry"
	)
	for _, tc := range []struct {
		name      string
		l         Locator
		r         record.Record
		want      string
		wantError error
	}{
		{"cached", Locator{Cache: c, Source: src}, record.Record{Source: "example.com/a:1", Digest: held}, fromCache, nil},
		{"not cached", Locator{Cache: c, Source: src}, record.Record{Source: "example.com/a:1", Digest: absent}, fromRepo, nil},
		{"no cache", Locator{Source: src}, record.Record{Source: "example.com/a:1", Digest: held}, fromRepo, nil},
		{"fetch writes the cache", Locator{Cache: c, Source: src, IntoCache: true}, record.Record{Source: "example.com/a:1", Digest: held}, fromRepo, nil},
		{"layout", Locator{Cache: c, Source: src}, record.Record{Source: "oci:///srv/layouts/cat", Digest: absent}, fromDir, nil},
		{"built, cached", Locator{Cache: c, Source: src}, record.Record{Origin: record.OriginGraph, Source: "localhost/graph:1", Digest: held}, fromCache, nil},
		{"built, not cached", Locator{Cache: c, Source: src}, record.Record{Origin: record.OriginGraph, Source: "localhost/graph:1", Digest: absent}, "", record.ErrNotBuilt},
		{"built, fetch", Locator{Cache: c, Source: src, IntoCache: true}, record.Record{Origin: record.OriginGraph, Source: "localhost/graph:1", Digest: absent}, fromRepo, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc, err := tc.l.Locate(&tc.r)
			if tc.wantError != nil {
				if !errors.Is(err, tc.wantError) {
					t.Fatalf("err = %v, want %v", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fromRepo
			switch rd := loc.Reader.(type) {
			case *cache.Cache:
				got = fromDir
				if rd == c {
					got = fromCache
				}
				if loc.Repo != nil {
					t.Errorf("Repo %v for a local read", loc.Repo)
				}
			case *registry.Repo:
				if loc.Repo != rd {
					t.Errorf("Repo %v, Reader %v", loc.Repo, rd)
				}
			}
			if got != tc.want {
				t.Errorf("read from %s, want %s", got, tc.want)
			}
			if got == fromDir && loc.Reader.(*cache.Cache).Dir != "/srv/layouts/cat" {
				t.Errorf("layout %s", loc.Reader.(*cache.Cache).Dir)
			}
		})
	}
}
