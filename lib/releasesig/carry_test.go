package releasesig_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/releasesig"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// TestLoad: signatures come from the cache; missing ones from the store,
// held to the digest the record names, and are then cached; without a
// store a missing one is ErrNotCached.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	sig1, sig2 := []byte("signature one"), []byte("signature two")
	served := [][]byte{sig1, sig2}
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		for i, s := range served {
			if strings.HasSuffix(r.URL.Path, "/sha256="+payload[7:]+"/signature-"+string(rune('1'+i))) {
				w.Write(s)
				return
			}
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	store, _ := releasesig.NewStore(srv.URL)
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := &record.Record{Release: "4.15.3", Digest: payload, Signatures: []record.Blob{
		{Digest: verify.Digest(sig2), Size: int64(len(sig2))}, {Digest: verify.Digest(sig1), Size: int64(len(sig1))}}}

	if _, err := releasesig.Load(ctx, c, nil, rec); !errors.Is(err, releasesig.ErrNotCached) {
		t.Fatalf("empty cache, no store: %v", err)
	}
	got, err := releasesig.Load(ctx, c, store, rec)
	if err != nil || len(got) != 2 || string(got[0]) != string(sig2) || string(got[1]) != string(sig1) {
		t.Fatalf("from the store: %q %v", got, err)
	}
	before := hits
	got, err = releasesig.Load(ctx, c, nil, rec)
	if err != nil || len(got) != 2 || string(got[0]) != string(sig2) || hits != before {
		t.Fatalf("from the cache: %q %v (%d store requests)", got, err, hits-before)
	}
	// The store now serves other bytes: the record's digests refuse them.
	served = [][]byte{[]byte("swapped")}
	rec2 := &record.Record{Release: "4.15.3", Digest: payload, Signatures: []record.Blob{{Digest: verify.Digest([]byte("not served")), Size: 10}}}
	if _, err := releasesig.Load(ctx, c, store, rec2); err == nil || !strings.Contains(err.Error(), "no longer in the store") {
		t.Fatalf("swapped store: %v", err)
	}
}
