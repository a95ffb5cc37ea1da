package copystage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ocm-mirror/ocm/internal/fixture"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/catalog"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/copystage"
	"github.com/ocm-mirror/ocm/lib/dryrun"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registriesconf"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/store"
)

// env is a source registry, a mirror registry (go-containerregistry's
// in-memory one, on 127.0.0.1) and an empty cache.
type env struct {
	src, mirror string // host:port
	srcServer   *httptest.Server
	client      *registry.Client
	cache       *cache.Cache
	log         *bytes.Buffer
	logMu       sync.Mutex
}

func serve(t *testing.T, opts ...ggcrregistry.Option) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(ggcrregistry.New(append(opts, ggcrregistry.Logger(log.New(io.Discard, "", 0)))...))
	t.Cleanup(s.Close)
	return s
}

func host(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// newEnv starts the registries; mirrorOpts configure the mirror.
func newEnv(t *testing.T, mirrorOpts ...ggcrregistry.Option) *env {
	t.Helper()
	e := &env{srcServer: serve(t), log: &bytes.Buffer{}}
	e.src, e.mirror = host(e.srcServer), host(serve(t, mirrorOpts...))
	e.client = registry.New(registry.Options{TLSVerify: true})
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.cache = c
	return e
}

func (e *env) Write(p []byte) (int, error) {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.log.Write(p)
}

// fetch is a stage that fills the cache; push one that writes to the mirror
// under prefix "mirror", reading from the cache when withCache is set.
func (e *env) fetch() *copystage.Stage {
	return &copystage.Stage{Engine: copier.New(copier.Options{}), Source: e.client, Cache: e.cache, Log: logging.New("test", logging.Debug, e)}
}

func (e *env) push(withCache bool, maxNested int) *copystage.Stage {
	st := &copystage.Stage{Engine: copier.New(copier.Options{}), Source: e.client, Dest: e.client, Log: logging.New("test", logging.Debug, e),
		Mirror: refs.Mirror{Registry: e.mirror, Prefix: "mirror"}, MaxNested: maxNested}
	if withCache {
		st.Cache = e.cache
	}
	return st
}

// image is what a plan knows of one image.
type image struct {
	digest, mediaType string
	size              int64
}

// put writes a random image (or a 2-platform index) to ref.
func put(t *testing.T, ref string, index bool) image {
	t.Helper()
	r := mustRef(t, ref)
	var a interface {
		Digest() (v1.Hash, error)
		RawManifest() ([]byte, error)
	}
	var mt string
	if index {
		idx, err := random.Index(256, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(r, idx); err != nil {
			t.Fatal(err)
		}
		m, _ := idx.MediaType()
		a, mt = idx, string(m)
	} else {
		img, err := random.Image(256, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
		m, _ := img.MediaType()
		a, mt = img, string(m)
	}
	d, _ := a.Digest()
	body, _ := a.RawManifest()
	return image{digest: d.String(), mediaType: mt, size: int64(len(body))}
}

// putSignature pushes a manifest shaped like cosign's signature (one
// simple signing layer) to ref.
func putSignature(t *testing.T, ref string) image {
	t.Helper()
	sig, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer([]byte(`{"critical":{}}`), "application/vnd.dev.cosign.simplesigning.v1+json")})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, ref), sig); err != nil {
		t.Fatal(err)
	}
	d, _ := sig.Digest()
	body, _ := sig.RawManifest()
	m, _ := sig.MediaType()
	return image{digest: d.String(), mediaType: string(m), size: int64(len(body))}
}

// planned is the record ocm-plan writes for source.
func planned(t *testing.T, origin record.Origin, source string, img image) *record.Record {
	t.Helper()
	d, err := refs.Destination(source)
	if err != nil {
		t.Fatal(err)
	}
	return &record.Record{V: 1, Origin: origin, Source: source, Digest: img.digest, MediaType: img.mediaType, Size: img.size,
		Destination: d.String(), Status: record.StatusPlanned}
}

func process(st *copystage.Stage, rs ...*record.Record) {
	for _, r := range rs {
		st.Seen(r)
	}
	for _, r := range rs {
		st.Process(context.Background(), r)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func head(t *testing.T, ref string) (v1.Hash, bool) {
	t.Helper()
	r := mustRef(t, ref)
	d, err := remote.Head(r)
	if err != nil {
		return v1.Hash{}, false
	}
	return d.Digest, true
}

// whole reads every manifest and blob of ref back and checks their digests.
func whole(t *testing.T, ref string, index bool) {
	t.Helper()
	r := mustRef(t, ref)
	if index {
		idx, err := remote.Index(r)
		if err == nil {
			err = validate.Index(idx)
		}
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		return
	}
	img, err := remote.Image(r)
	if err == nil {
		err = validate.Image(img)
	}
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
}

func wantStatus(t *testing.T, r *record.Record, status record.Status, stage string) {
	t.Helper()
	if r.Status != status || r.Stage != stage {
		t.Fatalf("%s: status %s, stage %s (error %q); want %s, %s", r.Source, r.Status, r.Stage, r.Error, status, stage)
	}
}

func TestFetch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		index     bool
		viaMirror bool // the source is reached through a registries.conf mirror
	}{
		{"image", false, false},
		{"multi-arch index", true, false},
		{"through a registries.conf mirror", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			img := put(t, e.src+"/team/app:1", tc.index)
			source, wantPulledFrom := e.src+"/team/app:1", ""
			if tc.viaMirror {
				source, wantPulledFrom = "upstream.invalid/team/app:1", e.src
				e.client = registry.New(registry.Options{TLSVerify: true, Mirrors: &registriesconf.Config{Registries: []registriesconf.Registry{
					{Prefix: "upstream.invalid", Location: "upstream.invalid", Mirrors: []registriesconf.Mirror{{Location: e.src}}}}}})
			}
			r := planned(t, record.OriginAdditional, source, img)
			st := e.fetch()
			process(st, r)
			wantStatus(t, r, record.StatusCached, "fetch")
			if r.Target != "" || r.Error != "" {
				t.Errorf("target %q, error %q; want none", r.Target, r.Error)
			}
			if r.PulledFrom != wantPulledFrom {
				t.Errorf("pulledFrom %q, want %q", r.PulledFrom, wantPulledFrom)
			}
			d, ok, err := e.cache.Lookup(source)
			if err != nil || !ok || d.Digest != img.digest {
				t.Fatalf("cache entry for %s: %+v %v %v; want %s", source, d, ok, err, img.digest)
			}
			blobs, err := e.cache.ImageBlobs(img.digest, img.mediaType)
			if err != nil {
				t.Fatal(err)
			}
			// index: itself + 2 x (manifest, config, 2 layers); image: manifest, config, 2 layers.
			want := 4
			if tc.index {
				want = 9
			}
			if len(blobs) != want {
				t.Errorf("cache holds %d blobs of the image, want %d", len(blobs), want)
			}
			for _, b := range blobs {
				if ok, _ := e.cache.Has(b.Digest); !ok {
					t.Errorf("cache lacks %s", b.Digest)
				}
			}
			if st.Engine.Stats.BlobsCopied.Load() == 0 {
				t.Error("first fetch copied no blobs")
			}

			// Again: the cache has it, nothing moves, the record stays as it was.
			st = e.fetch()
			process(st, r)
			wantStatus(t, r, record.StatusCached, "fetch")
			if n, b := st.Engine.Stats.BlobsCopied.Load(), st.Engine.Stats.BytesMoved.Load(); n != 0 || b != 0 {
				t.Errorf("second fetch copied %d blobs, %d bytes; want none", n, b)
			}
			if st.Engine.Stats.ImagesUpToDate.Load() != 1 {
				t.Errorf("second fetch: %d images up to date, want 1", st.Engine.Stats.ImagesUpToDate.Load())
			}
			if r.PulledFrom != wantPulledFrom {
				t.Errorf("pulledFrom %q after the second fetch, want %q", r.PulledFrom, wantPulledFrom)
			}
		})
	}
}

func TestPush(t *testing.T) {
	for _, tc := range []struct {
		name      string
		index     bool
		fromCache bool // disk to mirror: fetched first, the source gone
		maxNested int
		wantRepo  string
	}{
		{"disk to mirror", false, true, 0, "mirror/team/sub/app"},
		{"disk to mirror, --max-nested-paths 2", false, true, 2, "mirror/team-sub-app"},
		{"disk to mirror, multi-arch index", true, true, 0, "mirror/team/sub/app"},
		{"mirror to mirror", false, false, 0, "mirror/team/sub/app"},
		{"mirror to mirror, multi-arch index, --max-nested-paths 3", true, false, 3, "mirror/team/sub-app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			img := put(t, e.src+"/team/sub/app:1", tc.index)
			r := planned(t, record.OriginAdditional, e.src+"/team/sub/app:1", img)
			if tc.fromCache {
				process(e.fetch(), r)
				wantStatus(t, r, record.StatusCached, "fetch")
				e.srcServer.Close()
			}
			st := e.push(tc.fromCache, tc.maxNested)
			process(st, r)
			wantStatus(t, r, record.StatusPushed, "push")
			want := e.mirror + "/" + tc.wantRepo + ":1"
			if r.Target != want {
				t.Errorf("target %q, want %q", r.Target, want)
			}
			if d, ok := head(t, want); !ok || d.String() != img.digest {
				t.Fatalf("%s: %v %v, want %s", want, d, ok, img.digest)
			}
			whole(t, want, tc.index)

			// Again: the mirror has it.
			st = e.push(tc.fromCache, tc.maxNested)
			process(st, r)
			wantStatus(t, r, record.StatusPushed, "push")
			if n := st.Engine.Stats.BlobsCopied.Load(); n != 0 || st.Engine.Stats.ImagesUpToDate.Load() != 1 {
				t.Errorf("second push copied %d blobs, %d images up to date; want 0, 1", n, st.Engine.Stats.ImagesUpToDate.Load())
			}
		})
	}
}

func TestFailures(t *testing.T) {
	absent := "sha256:" + strings.Repeat("0", 64)
	// The error names the image: its digest and where it was looked for.
	lacks := "reading manifest " + absent + " from {src}/team/app: "
	for _, tc := range []struct {
		name      string
		push      bool
		origin    record.Origin
		edit      func(*record.Record)
		want      string // in the record's error; {src} is the source registry
		wantAbort bool
		copied    bool // the check fails after the copy
	}{
		{"fetch without digest", false, record.OriginAdditional, func(r *record.Record) { r.Digest = "" },
			"record has no digest or destination; fix: feed ocm-fetch the output of ocm-plan", false, false},
		{"push without destination", true, record.OriginAdditional, func(r *record.Record) { r.Destination = "" },
			"record has no digest or destination; fix: feed ocm-push the output of ocm-plan, ocm-fetch or ocm-unpack", false, false},
		{"fetch of a digest the source lacks", false, record.OriginAdditional, func(r *record.Record) { r.Digest = absent }, lacks, false, false},
		{"push of an additional image the source lacks", true, record.OriginAdditional, func(r *record.Record) { r.Digest = absent }, lacks, false, false},
		{"push of a release component the source lacks", true, record.OriginReleaseComponent, func(r *record.Record) { r.Digest = absent }, lacks, true, false},
		{"push of a release component without digest", true, record.OriginReleaseComponent, func(r *record.Record) { r.Digest = "" },
			"fix: feed ocm-push", true, false},
		{"push of a release payload the source lacks", true, record.OriginRelease, func(r *record.Record) { r.Digest = absent }, lacks, true, false},
		{"push of a catalog the source lacks", true, record.OriginCatalog, func(r *record.Record) { r.Digest = absent }, lacks, false, false},
		// The manifest's type shows as it is copied; the copy (by digest:
		// the right content) stays.
		{name: "fetch with a wrong mediaType", origin: record.OriginAdditional, edit: func(r *record.Record) { r.MediaType = "application/vnd.oci.image.index.v1+json" },
			want: "the record says mediaType application/vnd.oci.image.index.v1+json but manifest ", copied: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			img := put(t, e.src+"/team/app:1", false)
			r := planned(t, tc.origin, e.src+"/team/app:1", img)
			r.Release = "4.18.1"
			r.MediaType, r.Size = "", 0
			tc.edit(r)
			st := e.fetch()
			if tc.push {
				st = e.push(false, 0)
			}
			var aborts []error
			var mu sync.Mutex
			st.Abort = func(err error) { mu.Lock(); aborts = append(aborts, err); mu.Unlock() }
			process(st, r)
			wantStatus(t, r, record.StatusFailed, st.Name())
			if want := strings.ReplaceAll(tc.want, "{src}", e.src); !strings.Contains(r.Error, want) {
				t.Errorf("error %q, want it to hold %q", r.Error, want)
			}
			if r.Target != "" {
				t.Errorf("a failed record has target %q", r.Target)
			}
			if !strings.Contains(e.log.String(), r.Name()) {
				t.Errorf("the log does not name %s:\n%s", r.Name(), e.log)
			}
			if tc.wantAbort != (len(aborts) == 1) || len(aborts) > 1 {
				t.Fatalf("Abort called %d times, want abort %v", len(aborts), tc.wantAbort)
			}
			if tc.wantAbort && !strings.Contains(aborts[0].Error(), r.Source) {
				t.Errorf("abort %q does not name %s", aborts[0], r.Source)
			}
			if tc.wantAbort && r.Digest == absent && !errors.Is(aborts[0], store.ErrNotFound) {
				t.Errorf("abort %v does not wrap store.ErrNotFound", aborts[0])
			}
			if n := st.Engine.Stats.Manifests.Load(); (n != 0) != tc.copied {
				t.Errorf("%d manifests written", n)
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		push bool
	}{{"fetch", false}, {"push", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			source := e.src + "/team/app:1"
			img := put(t, source, false)
			stage := func() *copystage.Stage {
				if tc.push {
					return e.push(false, 0)
				}
				return e.fetch()
			}
			line := "docker://" + source + "=oci:" + e.cache.Dir + ":" + source
			if tc.push {
				line = "docker://" + source + "=docker://" + e.mirror + "/mirror/team/app:1"
			}
			dry := func(wantMissing bool) {
				t.Helper()
				st := stage()
				st.DryRun = &dryrun.Report{}
				r := planned(t, record.OriginAdditional, source, img)
				process(st, r)
				wantStatus(t, r, record.StatusPlanned, "")
				if r.Target != "" {
					t.Errorf("dry run set target %q", r.Target)
				}
				if n := st.Engine.Stats.BlobsCopied.Load() + st.Engine.Stats.Manifests.Load(); n != 0 {
					t.Errorf("dry run copied %d blobs and manifests", n)
				}
				dir := t.TempDir()
				mapping, missing, err := st.DryRun.Write(dir)
				if err != nil {
					t.Fatal(err)
				}
				wantMissingText := ""
				if wantMissing {
					wantMissingText = line + "\n"
				}
				for _, f := range []struct{ path, want string }{{mapping, line + "\n"}, {missing, wantMissingText}} {
					b, err := os.ReadFile(f.path)
					if err != nil || string(b) != f.want {
						t.Errorf("%s = %q (%v), want %q", filepath.Base(f.path), b, err, f.want)
					}
				}
			}
			dry(true)
			if _, ok, _ := e.cache.Lookup(source); ok {
				t.Error("dry run cached the image")
			}
			if _, ok := head(t, e.mirror+"/mirror/team/app:1"); ok {
				t.Error("dry run pushed the image")
			}
			r := planned(t, record.OriginAdditional, source, img)
			process(stage(), r)
			if r.Status == record.StatusFailed {
				t.Fatal(r.Error)
			}
			dry(false)
		})
	}
}

func TestCollision(t *testing.T) {
	for _, tc := range []struct {
		name         string
		dest1, dest2 string
		sameImage    bool
		maxNested    int
		wantRefused  string // in the second record's error; "" pushes both
		wantSameRepo bool
	}{
		{"one destination, two images", "team/app:1", "team/app:1", false, 0,
			"destination collision: ", true},
		{"folded by --max-nested-paths", "team/a-b:1", "team/a/b:1", false, 2,
			"(--max-nested-paths 2 folds team/a-b:1 and team/a/b:1 into one repository); the mirror can hold only one: the first goes there, this one does not; fix: push with a larger --max-nested-paths", true},
		{"one destination, one image", "team/app:1", "team/app:1", true, 0, "", true},
		{"not folded without --max-nested-paths", "team/a-b:1", "team/a/b:1", false, 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			img1 := put(t, e.src+"/team/one:1", false)
			img2 := img1
			if !tc.sameImage {
				img2 = put(t, e.src+"/team/two:1", false)
			}
			r1 := planned(t, record.OriginAdditional, e.src+"/team/one:1", img1)
			r2 := planned(t, record.OriginAdditional, e.src+"/team/two:1", img2)
			if tc.sameImage {
				r2.Source = e.src + "/team/one@" + img1.digest
			}
			r1.Destination, r2.Destination = tc.dest1, tc.dest2
			st := e.push(false, tc.maxNested)
			process(st, r1, r2)
			wantStatus(t, r1, record.StatusPushed, "push")
			if tc.wantRefused == "" {
				wantStatus(t, r2, record.StatusPushed, "push")
				if st.Collisions() != 0 || st.Refused() != nil {
					t.Errorf("collisions %d, refused %v; want none", st.Collisions(), st.Refused())
				}
				if (r1.Target == r2.Target) != tc.wantSameRepo {
					t.Errorf("targets %s and %s", r1.Target, r2.Target)
				}
				if d, ok := head(t, r2.Target); !ok || d.String() != img2.digest {
					t.Errorf("%s holds %v, want %s", r2.Target, d, img2.digest)
				}
				return
			}
			wantStatus(t, r2, record.StatusFailed, "push")
			if !strings.Contains(r2.Error, tc.wantRefused) || !strings.Contains(r2.Error, img1.digest) || !strings.Contains(r2.Error, img2.digest) {
				t.Errorf("error %q; want it to hold %q and both digests", r2.Error, tc.wantRefused)
			}
			if st.Collisions() != 1 || st.Refused() == nil {
				t.Errorf("collisions %d, refused %v; want 1", st.Collisions(), st.Refused())
			}
			if d, ok := head(t, r1.Target); !ok || d.String() != img1.digest {
				t.Errorf("%s holds %v, want the first image %s", r1.Target, d, img1.digest)
			}
		})
	}
}

func TestAttachments(t *testing.T) {
	for _, tc := range []struct {
		name          string
		viaCache      bool // fetch, then push from the cache with the source gone
		noAttachments bool
		index         bool // the signature is of one platform of an index
	}{
		{"disk to mirror", true, false, false},
		{"disk to mirror, --remove-signatures", true, true, false},
		{"mirror to mirror", false, false, false},
		{"mirror to mirror, --remove-signatures", false, true, false},
		{"disk to mirror, one platform of an index signed", true, false, true},
		{"mirror to mirror, one platform of an index signed", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			img := put(t, e.src+"/team/app:1", tc.index)
			subject := img.digest
			if tc.index {
				idx, err := remote.Index(mustRef(t, e.src+"/team/app:1"))
				if err != nil {
					t.Fatal(err)
				}
				im, _ := idx.IndexManifest()
				subject = im.Manifests[1].Digest.String()
			}
			sigTag := "sha256-" + strings.TrimPrefix(subject, "sha256:") + ".sig"
			sig := putSignature(t, e.src+"/team/app:"+sigTag)
			r := planned(t, record.OriginAdditional, e.src+"/team/app:1", img)
			wantAtts := []record.Attachment{{Kind: record.KindSignature, Digest: sig.digest, MediaType: sig.mediaType, Size: sig.size, Tag: sigTag, Subject: subject}}
			if tc.noAttachments {
				wantAtts = nil
			}
			checkAtts := func() {
				t.Helper()
				if len(r.Attachments) != len(wantAtts) || (len(wantAtts) == 1 && r.Attachments[0] != wantAtts[0]) {
					t.Fatalf("attachments %+v, want %+v", r.Attachments, wantAtts)
				}
			}
			if tc.viaCache {
				st := e.fetch()
				st.NoAttachments = tc.noAttachments
				process(st, r)
				wantStatus(t, r, record.StatusCached, "fetch")
				checkAtts()
				if ok, _ := e.cache.Has(sig.digest); ok == tc.noAttachments {
					t.Errorf("signature in the cache: %v", ok)
				}
				e.srcServer.Close()
			}
			st := e.push(tc.viaCache, 0)
			st.NoAttachments = tc.noAttachments
			process(st, r)
			wantStatus(t, r, record.StatusPushed, "push")
			checkAtts()
			d, ok := head(t, e.mirror+"/mirror/team/app:"+sigTag)
			switch {
			case tc.noAttachments && ok:
				t.Errorf("the signature reached the mirror with --remove-signatures")
			case !tc.noAttachments && (!ok || d.String() != sig.digest):
				t.Errorf("signature at the mirror: %v %v, want %s", d, ok, sig.digest)
			}
			wantAttached := int64(len(wantAtts))
			if got := st.Engine.Stats.AttachedCopied.Load(); got != wantAttached {
				t.Errorf("attachments copied %d, want %d", got, wantAttached)
			}
		})
	}
}

// A catalog record waits (Barrier) for the bundles before it; when one of
// its bundles' images did not mirror, a catalog the stage cannot rebuild is
// pushed as planned, with a warning naming the bundle.
func TestCatalogAfterFailedBundles(t *testing.T) {
	for _, tc := range []struct {
		name        string
		withCache   bool
		arrives     bool   // the bundle's record arrives failed; else it fails in this push
		bundleOf    string // the failed bundle's catalog
		wantWarning string // "" for none
	}{
		{"failed upstream, no cache", false, true, "cat", "catalog cat: bundles op/op.v1 did not mirror, but without --cache the catalog cannot be rebuilt"},
		{"failed in this push, catalog not cached", true, false, "cat", "catalog cat: bundles op/op.v1 did not mirror; the catalog is not in the cache"},
		{"another catalog's bundle failed", false, false, "other", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			bundle := planned(t, record.OriginBundle, e.src+"/op/bundle:v1", put(t, e.src+"/op/bundle:v1", false))
			bundle.Catalog, bundle.Package, bundle.Bundle = tc.bundleOf, "op", "op.v1"
			if tc.arrives {
				bundle.Fail("fetch", errors.New("upstream failure"))
			} else {
				bundle.Digest = "sha256:" + strings.Repeat("0", 64)
			}
			catImg := put(t, e.src+"/op/index:v4.18", false)
			cat := planned(t, record.OriginCatalog, e.src+"/op/index:v4.18", catImg)
			cat.Catalog = "cat"
			if !copystage.Barrier(cat) || copystage.Barrier(bundle) {
				t.Fatal("Barrier: want it for the catalog only")
			}
			st := e.push(tc.withCache, 0)
			st.Seen(bundle)
			if !tc.arrives {
				st.Process(context.Background(), bundle)
			}
			wantStatus(t, bundle, record.StatusFailed, map[bool]string{true: "fetch", false: "push"}[tc.arrives])
			process(st, cat)
			wantStatus(t, cat, record.StatusPushed, "push")
			if cat.Digest != catImg.digest {
				t.Errorf("catalog digest %s, want it as planned (%s)", cat.Digest, catImg.digest)
			}
			if d, ok := head(t, cat.Target); !ok || d.String() != catImg.digest {
				t.Errorf("%s holds %v, want %s", cat.Target, d, catImg.digest)
			}
			logged := e.log.String()
			if tc.wantWarning == "" && strings.Contains(logged, "did not mirror") || tc.wantWarning != "" && !strings.Contains(logged, tc.wantWarning) {
				t.Errorf("log:\n%s\nwant warning %q", logged, tc.wantWarning)
			}
		})
	}
}

// With the catalog in the cache, a push rebuilds it without the bundle whose
// image failed and pushes the rebuilt image; the record names it.
func TestCatalogRebuiltWithoutFailedBundle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	fx, err := fixture.OperatorCatalog(ctx, fixture.Options{Host: e.src, LayerSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	cat := planned(t, record.OriginCatalog, fx.Ref, image{digest: fx.Digest})
	cat.Catalog = fx.Ref
	process(e.fetch(), cat)
	wantStatus(t, cat, record.StatusCached, "fetch")

	bundle := planned(t, record.OriginBundle, fx.Bundles["elastic.v5.2.1"], image{digest: strings.SplitN(fx.Bundles["elastic.v5.2.1"], "@", 2)[1]})
	bundle.Catalog, bundle.Package, bundle.Bundle = fx.Ref, "elastic", "elastic.v5.2.1"
	bundle.Fail("fetch", errors.New("upstream failure"))
	st := e.push(true, 0)
	st.Seen(bundle)
	process(st, cat)
	wantStatus(t, cat, record.StatusPushed, "push")
	if cat.Digest == fx.Digest {
		t.Fatal("the catalog was pushed as planned, with the failed bundle")
	}
	if d, ok := head(t, cat.Target); !ok || d.String() != cat.Digest {
		t.Fatalf("%s holds %v, want the rebuilt catalog %s", cat.Target, d, cat.Digest)
	}
	// The fixture's layers carry made-up diff IDs (validate.Image refuses
	// them): check the blobs' digests only.
	blobs(t, cat.Target)
	got, err := catalog.Read(ctx, e.cache, cat.Digest)
	if err != nil {
		t.Fatal(err)
	}
	bs := got.FBC.Packages["elastic"].Bundles
	if bs["elastic.v5.2.1"] != nil || bs["elastic.v5.2.4"] == nil || got.FBC.Packages["aqua"] == nil {
		t.Errorf("rebuilt catalog: elastic bundles %v, packages %v; want all but elastic.v5.2.1", keys(bs), keys(got.FBC.Packages))
	}
	if want := "left out elastic/elastic.v5.2.1"; !strings.Contains(e.log.String(), want) {
		t.Errorf("log:\n%s\nwant %q", e.log, want)
	}
}

// blobs reads every layer and the config of ref back and checks their digests.
func blobs(t *testing.T, ref string) {
	t.Helper()
	r := mustRef(t, ref)
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.ConfigFile(); err != nil {
		t.Fatalf("%s: config: %v", ref, err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		want, _ := l.Digest()
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("%s: layer %s: %v", ref, want, err)
		}
		got, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || got != want {
			t.Fatalf("%s: layer %s reads back as %s (%v)", ref, want, got, err)
		}
	}
}

func keys[T any](m map[string]T) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// An image known by digest only is tagged sha256-<hex> at the mirror: the
// tag the referrers tag schema gives the index of its referrers. The image
// keeps the tag (docs/attachments.md); its referrers are copied by digest,
// which a mirror with the referrers API lists and one without cannot.
//
// With twin, the same image is also listed by tag: its referrers index
// would go under the digest-only image's tag; the image keeps it there too.
func TestDigestOnlyImageWithReferrer(t *testing.T) {
	for _, tc := range []struct {
		name         string
		viaCache     bool
		referrersAPI bool // the mirror's
		twin         bool
	}{
		{"disk to mirror", true, false, false},
		{"mirror to mirror", false, false, false},
		{"disk to mirror with the referrers API", true, true, false},
		{"mirror to mirror with the referrers API", false, true, false},
		{"disk to mirror, also by tag", true, false, true},
		{"mirror to mirror, also by tag", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ggcrregistry.WithReferrersSupport(tc.referrersAPI))
			img := put(t, e.src+"/team/app:1", false)
			// An SBOM with the image as subject; the source has no referrers
			// API, so the write also tags the schema's index.
			desc, err := remote.Head(mustRef(t, e.src+"/team/app:1"))
			if err != nil {
				t.Fatal(err)
			}
			sbom, err := random.Image(128, 1)
			if err != nil {
				t.Fatal(err)
			}
			sbom = mutate.Subject(mutate.ConfigMediaType(sbom, "application/spdx+json"), *desc).(v1.Image)
			sbomDigest, _ := sbom.Digest()
			if err := remote.Write(mustRef(t, e.src+"/team/app@"+sbomDigest.String()), sbom); err != nil {
				t.Fatal(err)
			}
			source := e.src + "/team/app@" + img.digest
			rs := []*record.Record{planned(t, record.OriginAdditional, source, img)}
			if tc.twin {
				rs = append(rs, planned(t, record.OriginAdditional, e.src+"/team/app:1", img))
			}
			r := rs[0]
			if tc.viaCache {
				process(e.fetch(), rs...)
				for _, r := range rs {
					wantStatus(t, r, record.StatusCached, "fetch")
				}
				e.srcServer.Close()
			}
			process(e.push(tc.viaCache, 0), rs...)
			for _, r := range rs {
				wantStatus(t, r, record.StatusPushed, "push")
			}
			kinds := map[string]string{}
			for _, a := range r.Attachments {
				kinds[a.Kind] = a.Digest
			}
			if kinds[record.KindReferrer] != sbomDigest.String() || kinds[record.KindReferrersTag] == "" {
				t.Errorf("attachments %+v, want the SBOM %s and the referrers tag index", r.Attachments, sbomDigest)
			}
			if want := e.mirror + "/mirror/team/app:" + refs.DigestTag(img.digest); r.Target != want {
				t.Errorf("target %s, want %s", r.Target, want)
			}
			if d, ok := head(t, r.Target); !ok || d.String() != img.digest {
				t.Errorf("%s names %v, want the image %s", r.Target, d, img.digest)
			}
			if d, ok := head(t, e.mirror+"/mirror/team/app@"+sbomDigest.String()); !ok || d != sbomDigest {
				t.Errorf("the SBOM is not at the mirror: %v %v", d, ok)
			}
			idx, err := remote.Referrers(mustRef(t, e.mirror+"/mirror/team/app@"+img.digest).(name.Digest))
			if err != nil {
				t.Fatal(err)
			}
			im, _ := idx.IndexManifest()
			if tc.referrersAPI && (len(im.Manifests) != 1 || im.Manifests[0].Digest != sbomDigest) {
				t.Errorf("referrers at the mirror %+v, want the SBOM %s", im.Manifests, sbomDigest)
			}
		})
	}
}

// Images with no registry to read from: a local OCI layout (oci:///dir) and
// one ocm-plan built into its cache (the graph image).
func TestLayoutAndBuiltSources(t *testing.T) {
	const graph = "localhost/ocm/graph-image:latest"
	const rebuiltCase = "fetch of a rebuilt catalog the cache lacks"
	for _, tc := range []struct {
		name       string
		push       bool
		origin     record.Origin
		inLayout   bool // the layout holds the image (oci:// source)
		inCache    bool // the stage's cache holds it (built source)
		wantStatus record.Status
		wantErr    string
	}{
		{"fetch from a layout", false, record.OriginCatalog, true, false, record.StatusCached, ""},
		{"push from a layout", true, record.OriginCatalog, true, false, record.StatusPushed, ""},
		{"fetch from a layout that lacks it", false, record.OriginCatalog, false, false, record.StatusFailed,
			"fix: run ocm-plan with the same --cache as ocm-fetch"},
		{"push of a built image from the cache", true, record.OriginGraph, false, true, record.StatusPushed, ""},
		{"fetch of a built image the cache lacks", false, record.OriginGraph, false, false, record.StatusFailed,
			"built by ocm-plan into its cache, and not in the cache this stage reads; fix: pass the --cache ocm-plan used"},
		{"push of a built image without it in the cache", true, record.OriginGraph, false, false, record.StatusFailed,
			"built by ocm-plan into its cache, and not in the cache this stage reads; fix: pass the --cache ocm-plan used"},
		// A rebuilt catalog (builtFrom) names its registry source, which
		// holds only what upstream published.
		{rebuiltCase, false, record.OriginCatalog, false, false, record.StatusFailed,
			"built by ocm-plan into its cache, and not in the cache this stage reads; fix: pass the --cache ocm-plan used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			img := put(t, e.src+"/team/app:1", false)
			srcRepo, err := e.client.Repository(e.src + "/team/app")
			if err != nil {
				t.Fatal(err)
			}
			from := &registry.Repo{Client: e.client, Name: srcRepo}
			dir := t.TempDir()
			layout, err := cache.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			source, dest := refs.OCIPrefix+dir, "team/app:1"
			rebuilt := tc.name == rebuiltCase
			switch {
			case tc.origin == record.OriginGraph:
				source, dest = graph, "ocm/graph-image:latest"
			case rebuilt:
				source = e.src + "/team/app:1"
			}
			if tc.inLayout {
				if _, err := copier.New(copier.Options{}).Copy(ctx, from, img.digest, layout, "latest"); err != nil {
					t.Fatal(err)
				}
			}
			if tc.inCache {
				if _, err := copier.New(copier.Options{}).Copy(ctx, from, img.digest, e.cache, graph); err != nil {
					t.Fatal(err)
				}
			}
			e.srcServer.Close() // nothing is read from a registry
			r := planned(t, tc.origin, e.src+"/team/app:1", img)
			r.Source, r.Destination = source, dest
			if rebuilt {
				r.BuiltFrom = "sha256:" + strings.Repeat("1", 64)
			}
			st := e.fetch()
			if tc.push {
				st = e.push(tc.inCache, 0)
			}
			process(st, r)
			wantStatus(t, r, tc.wantStatus, st.Name())
			if !strings.Contains(r.Error, tc.wantErr) {
				t.Errorf("error %q, want it to hold %q", r.Error, tc.wantErr)
			}
			if r.PulledFrom != "" || len(r.Attachments) != 0 {
				t.Errorf("pulledFrom %q, attachments %+v; want none", r.PulledFrom, r.Attachments)
			}
			switch {
			case tc.wantErr != "":
			case tc.push:
				if d, ok := head(t, e.mirror+"/mirror/"+dest); !ok || d.String() != img.digest {
					t.Errorf("%s at the mirror: %v %v, want %s", dest, d, ok, img.digest)
				}
			default:
				if d, ok, err := e.cache.Lookup(source); err != nil || !ok || d.Digest != img.digest {
					t.Errorf("cache entry for %s: %+v %v %v", source, d, ok, err)
				}
			}
		})
	}
}

// A fetch whose cache holds the image's manifest but lost or truncated one of
// its blobs fetches them again (a copy that finds the manifest looks no
// further).
func TestFetchRepairsTheCache(t *testing.T) {
	for _, tc := range []struct {
		name   string
		index  bool
		damage func(path string) error
	}{
		{"layer removed", false, os.Remove},
		{"layer truncated", false, func(p string) error { return os.Truncate(p, 10) }},
		{"layer of an index platform removed", true, os.Remove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			source := e.src + "/team/app:1"
			img := put(t, source, tc.index)
			r := planned(t, record.OriginAdditional, source, img)
			process(e.fetch(), r)
			wantStatus(t, r, record.StatusCached, "fetch")
			all, err := e.cache.ImageBlobs(img.digest, img.mediaType)
			if err != nil {
				t.Fatal(err)
			}
			var layer string
			for _, b := range all {
				if strings.Contains(b.MediaType, "layer") || strings.Contains(b.MediaType, "rootfs") {
					layer = b.Digest
				}
			}
			if layer == "" {
				t.Fatalf("no layer among %+v", all)
			}
			if err := tc.damage(e.cache.BlobPath(layer)); err != nil {
				t.Fatal(err)
			}
			st := e.fetch()
			process(st, r)
			wantStatus(t, r, record.StatusCached, "fetch")
			if n := st.Engine.Stats.BlobsCopied.Load(); n == 0 {
				t.Error("the second fetch copied nothing")
			}
			for _, b := range all {
				if ok, size := e.cache.Has(b.Digest); !ok || size != b.Size {
					t.Errorf("cache: %s %v, size %d; want %d", b.Digest, ok, size, b.Size)
				}
			}
			if !strings.Contains(e.log.String(), "missing or damaged") {
				t.Errorf("log:\n%s\nwant a warning", e.log)
			}
		})
	}
}

// N3: a blocked "*.domain" registries.conf entry blocks every source on a
// subdomain, and a "*.domain" mirror serves one; both used to apply to the
// bare domain only, so the blocked source was read from upstream.
func TestN3BlockedWildcardBlocksASource(t *testing.T) {
	e := newEnv(t)
	img := put(t, e.src+"/team/app:1", false)
	conf := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(conf, []byte(`
[[registry]]
prefix = "*.blocked.invalid"
blocked = true

[[registry]]
prefix = "*.upstream.invalid"
[[registry.mirror]]
location = "`+e.src+`"
insecure = true
`), 0o644); err != nil {
		t.Fatal(err)
	}
	mirrors, err := registriesconf.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	e.client = registry.New(registry.Options{TLSVerify: true, Mirrors: mirrors})
	blocked := planned(t, record.OriginAdditional, "x.y.blocked.invalid/team/app:1", img)
	served := planned(t, record.OriginAdditional, "a.upstream.invalid/team/app:1", img)
	process(e.fetch(), blocked, served)
	wantStatus(t, blocked, record.StatusFailed, "fetch")
	if !strings.Contains(blocked.Error, "blocked by registries.conf") {
		t.Errorf("blocked source failed with %q; want blocked by registries.conf", blocked.Error)
	}
	wantStatus(t, served, record.StatusCached, "fetch")
	if served.PulledFrom != e.src {
		t.Errorf("pulledFrom %q, want the wildcard's mirror %s", served.PulledFrom, e.src)
	}
}
