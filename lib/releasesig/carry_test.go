package releasesig_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ocm-mirror/ocm/internal/fixture"
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
	store.HTTP = srv.Client()
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

// TestPushedVerifiesCarriedSignatures: signatures that entered the cache by
// another path than a verifying plan (another key's, a forged message
// naming the trusted key, a genuine one of another payload) are refused
// when a keyring is given: their payload's records fail, naming the
// release, the signature and the fix, and nothing of that payload is
// returned for the ConfigMap. Genuine ones pass.
func TestPushedVerifiesCarriedSignatures(t *testing.T) {
	ctx := context.Background()
	trusted, err := fixture.NewSigner("trusted")
	if err != nil {
		t.Fatal(err)
	}
	other, err := fixture.NewSigner("other")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := trusted.PublicKey()
	keys, err := releasesig.ParseKeyring(pub, "test key")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	digest := func(i int) string { return fmt.Sprintf("sha256:%064x", i) }
	sign := func(s *fixture.Signer, d string) []byte {
		b, err := s.Sign("quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var recs []*record.Record
	add := func(version string, d string, sigs ...[]byte) *record.Record {
		r := &record.Record{V: record.Version, Origin: record.OriginRelease, Status: record.StatusPushed, Stage: "push", Release: version, Digest: d,
			Source: "quay.io/openshift-release-dev/ocp-release@" + d, Target: "mirror.example.com/openshift/release-images:" + version + "-x86_64"}
		for _, s := range sigs {
			sd, err := c.PutBytes(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			r.Signatures = append(r.Signatures, record.Blob{Digest: sd, Size: int64(len(s))})
		}
		recs = append(recs, r)
		return r
	}
	genuine := add("4.15.1", digest(1), sign(trusted, digest(1)))
	otherSig := sign(other, digest(2))
	otherKey := add("4.15.2", digest(2), otherSig)
	forged := add("4.15.3", digest(3), fixture.ForgedSignature(trusted.KeyID(), fixture.ForgedClaim("quay.io/openshift-release-dev/ocp-release:4.15.3-x86_64", digest(3)), 70000))
	replayed := add("4.15.4", digest(4), sign(trusted, digest(1)))
	second := add("4.15.5", digest(5), sign(trusted, digest(5)), sign(other, digest(5)))
	again := add("4.15.2", digest(2), otherSig) // the same payload twice (two records)

	got, err := releasesig.Pushed(ctx, recs, []string{dir}, keys, func() (*http.Client, error) { return nil, errors.New("no store in this test") })
	if err != nil {
		t.Fatal(err)
	}
	if len(got[genuine.Digest]) != 1 || genuine.Status != record.StatusPushed {
		t.Fatalf("a genuine signature was refused: %s %s", genuine.Status, genuine.Error)
	}
	for _, c := range []struct {
		r   *record.Record
		why string
		bad int // the signature refused
	}{
		{otherKey, "signed by key " + fmt.Sprintf("%016X", other.KeyID()) + ", which is not in test key", 0},
		{again, "signed by key", 0},
		{forged, "the signed document is over 64 KiB", 0},
		{replayed, "it signs digest " + digest(1), 0},
		{second, "signed by key " + fmt.Sprintf("%016X", other.KeyID()), 1},
	} {
		want := "release " + c.r.Release + " (" + c.r.Digest + "): signature " + c.r.Signatures[c.bad].Digest + ": invalid release signature: "
		if c.r.Status != record.StatusFailed || c.r.Stage != releasesig.ResourcesStage || !strings.Contains(c.r.Error, want) || !strings.Contains(c.r.Error, c.why) || !strings.Contains(c.r.Error, "; fix: ") {
			t.Errorf("%s: %s at %s %q; want failed at resources with %q ... %q", c.r.Release, c.r.Status, c.r.Stage, c.r.Error, want, c.why)
		}
		if got[c.r.Digest] != nil {
			t.Errorf("%s: its signatures are returned for the ConfigMap", c.r.Release)
		}
	}
}
