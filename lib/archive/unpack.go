package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/copier"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/store"
	"github.com/ocm-mirror/ocm/lib/workpool"
)

// Unpacker loads archive sets into a cache.
type Unpacker struct {
	Cache *cache.Cache
	Log   *logging.Logger
	// Meter, when set, counts archive bytes to read and read.
	Meter *progress.Meter
}

// UnpackResult says what was loaded.
type UnpackResult struct {
	Records  []*record.Record
	Loaded   int64    // blob bytes written to the cache
	Problems []string // one line per damaged or missing archive or blob
}

// Log names each problem and says how much was loaded into the cache dir.
func (r *UnpackResult) Log(log *logging.Logger, dir string) {
	for _, p := range r.Problems {
		log.Errorf("%s", p)
	}
	log.Infof("loaded %s into %s", progress.HumanBytes(r.Loaded), dir)
}

// Expand turns arguments (archive files or directories holding them) into
// the sorted list of archive files.
func Expand(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("archive %s: %w", a, err)
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, e := range ents {
			if archiveName.MatchString(e.Name()) {
				out = append(out, filepath.Join(a, e.Name()))
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("archive directory %s holds no mirror_NNNNNN.tar files", a)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Unpack verifies and loads archives into the cache. The files may hold
// several sets (an ARCHIVE_DIR after incremental packs) if each follows the
// one before (anything else is refused with ErrMixedSets before loading):
// the records are those of the newest set, which describe the whole image
// set, and each record's image, attachments and release signatures are
// copied from the archives (any set's) into the cache, skipping what it
// holds. Every blob is checked against its digest and size as it streams;
// a bad one never reaches the cache. Records whose images lack a blob come
// back failed, naming the blob and the archive that should have carried it.
func (u *Unpacker) Unpack(ctx context.Context, files []string) (*UnpackResult, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no archives given")
	}
	sets, err := groupSets(files)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			total += fi.Size()
		}
	}
	u.Meter.AddTotal(total)
	u.Meter.Final()
	src := openStore(sets, u.Meter, u.Log)
	defer src.Close()
	where := map[string]string{}
	for _, s := range sets {
		for d, a := range s.meta.toc.Locate() {
			where[d] = a
		}
	}
	res := &UnpackResult{Records: sets[len(sets)-1].meta.recs}
	eng := copier.New(copier.Options{BlobWorkers: blobWorkers, Logf: u.Log.Debugf})
	// What the archives lack may be in the cache already (an earlier set
	// unpacked on its own): the engine reads a manifest it names from there.
	from := &archivesThenCache{src, u.Cache}
	// Records fail alone (f returns no error), so every one is seen; one
	// not started before an interrupt says so.
	workpool.Run(ctx, len(res.Records), imageWorkers, func(ctx context.Context, i int) error { //nolint:errcheck // f never fails
		r := res.Records[i]
		switch {
		case r.Done():
		case ctx.Err() != nil:
			r.Fail("unpack", fmt.Errorf("interrupted before this image was unpacked"))
		default:
			if err := u.unpackRecord(ctx, eng, from, r); err != nil {
				r.Fail("unpack", explain(err, where))
			} else {
				r.Status, r.Stage, r.Error = record.StatusCached, "unpack", ""
			}
		}
		return nil
	})
	src.settle(total)
	res.Problems = src.Problems()
	for _, s := range sets {
		for _, a := range s.meta.toc.Archives {
			// Every blob written came whole and verified from an archive
			// (manifests and signatures too), so the total is their sum.
			res.Loaded += src.Written(a.Name)
			if src.Opened(a.Name) {
				u.Log.Infof("loaded %s: %d of %d blobs, %d bytes written", a.Name, u.cached(a.Blobs), len(a.Blobs), src.Written(a.Name))
			}
		}
	}
	return res, ctx.Err()
}

// At most this many images, and blobs, are copied at once: archives are
// local files, so a few streams keep the disk and the hashing busy.
const imageWorkers, blobWorkers = 4, 4

// unpackRecord copies r's release signatures, attachments and image into
// the cache, the image last and named r.Source, then checks the cache holds
// every blob of the record.
func (u *Unpacker) unpackRecord(ctx context.Context, eng *copier.Engine, src store.Reader, r *record.Record) error {
	for _, s := range r.Signatures {
		if err := u.putBlob(ctx, src, s.Digest, s.Size); err != nil {
			return err
		}
	}
	for _, a := range r.Attachments {
		if _, err := eng.Copy(ctx, src, a.Digest, u.Cache, ""); err != nil {
			return fmt.Errorf("%s %s of %s: %w", a.Kind, a.Digest, a.Subject, err)
		}
	}
	if _, err := eng.CopySparse(ctx, src, r.Digest, u.Cache, r.Source, r.Selection()); err != nil {
		return err
	}
	// The engine trusts a manifest the cache holds to mean its image is
	// whole; a cache an older ocm filled may hold one without its blobs,
	// which are copied now.
	members, err := RecordBlobs(u.Cache, r)
	if err != nil {
		return err
	}
	for _, m := range members {
		if err := u.putBlob(ctx, src, m.Digest, m.Size); err != nil {
			return err
		}
	}
	return nil
}

// putBlob copies one blob into the cache unless it is there already.
func (u *Unpacker) putBlob(ctx context.Context, src store.Reader, digest string, size int64) error {
	if ok, _ := u.Cache.Has(digest); ok {
		return nil
	}
	_, err := u.Cache.PutBlob(ctx, digest, size, func() (io.ReadCloser, error) { return src.Blob(ctx, digest, size) })
	return err
}

// explain says why a record failed when a blob of its is at fault: the
// archive listed for it is missing or damaged, or no archive given lists
// it (an earlier set was not unpacked).
func explain(err error, where map[string]string) error {
	var digest string
	var be *BlobError
	var me *cache.MissingError
	switch {
	case errors.As(err, &be):
		digest = be.Digest
	case errors.As(err, &me):
		digest = me.Digest
	default:
		return err
	}
	if a, ok := where[digest]; ok {
		return fmt.Errorf("blob %s did not load: archive %s is missing or damaged", digest, a)
	}
	return fmt.Errorf("blob %s is in no archive of this set and not in the cache; fix: unpack the earlier archive sets first, or pack this set with --full", digest)
}

// cached counts the blobs the cache holds.
func (u *Unpacker) cached(blobs []Member) int {
	n := 0
	for _, b := range blobs {
		if ok, _ := u.Cache.Has(b.Digest); ok {
			n++
		}
	}
	return n
}

// archivesThenCache reads from the archives, and what they lack from the
// cache.
type archivesThenCache struct {
	archives *Store
	cache    *cache.Cache
}

func (a *archivesThenCache) String() string { return a.archives.String() }

func (a *archivesThenCache) Manifest(ctx context.Context, digest string) ([]byte, string, error) {
	b, mt, err := a.archives.Manifest(ctx, digest)
	if errors.Is(err, store.ErrNotFound) {
		if b, mt, cerr := a.cache.Manifest(ctx, digest); cerr == nil {
			return b, mt, nil
		}
	}
	return b, mt, err
}

func (a *archivesThenCache) Blob(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	rc, err := a.archives.Blob(ctx, digest, size)
	if errors.Is(err, store.ErrNotFound) {
		if rc, cerr := a.cache.Blob(ctx, digest, size); cerr == nil {
			return rc, nil
		}
	}
	return rc, err
}

// set is the archives given of one set.
type set struct {
	meta  *meta
	files []string
}

// groupSets reads every archive's head and groups the files by set, oldest
// set first. It refuses what would lose images silently: a file that is not
// the archive of its set it is named as, two files of one set that disagree
// on its table of contents, and sets that do not follow one another.
func groupSets(files []string) ([]*set, error) {
	var sets []*set
	byID := map[string]*set{}
	first := map[string]string{} // set id -> first file seen of it
	for _, f := range files {
		m, err := readMeta(f)
		if err != nil {
			return nil, err
		}
		id := m.toc.SetID
		if !m.toc.Has(filepath.Base(f)) {
			return nil, fmt.Errorf("%w: %s belongs to set %s, whose archives are %s; fix: give each archive under the name ocm-pack gave it", ErrMixedSets, f, id, archiveNames(m.toc))
		}
		s := byID[id]
		if s == nil {
			s = &set{meta: m}
			byID[id] = s
			first[id] = f
			sets = append(sets, s) // files are sorted, so sets come oldest first
		} else if m.sum != s.meta.sum {
			return nil, fmt.Errorf("%w: %s and %s both claim set %s but their tables of contents differ; fix: copy the set again from the archive directory ocm-pack wrote", ErrMixedSets, first[id], f, id)
		}
		s.files = append(s.files, f)
	}
	for i := 1; i < len(sets); i++ {
		prev, cur := sets[i-1].meta.toc, sets[i].meta.toc
		if cur.Previous != prev.SetID {
			after := "follows no earlier set"
			if cur.Previous != "" {
				after = "follows set " + cur.Previous + ", which is not given"
			}
			return nil, fmt.Errorf("%w: %s (set %s) and %s (set %s, which %s) are not consecutive sets of one archive directory; fix: unpack one set at a time, or give the sets of one archive directory oldest first", ErrMixedSets, first[prev.SetID], prev.SetID, first[cur.SetID], cur.SetID, after)
		}
	}
	return sets, nil
}

// archiveNames lists a set's archives, the first and last only when many.
func archiveNames(t *TOC) string {
	var names []string
	for _, a := range t.Archives {
		names = append(names, a.Name)
	}
	return archiveList(names)
}

// ErrBadArchive is wrapped by Unpack's error for a file that is not a
// readable ocm archive (empty, garbage, an oversized or broken table of
// contents or records): bad input, nothing was loaded.
var ErrBadArchive = errors.New("not a readable ocm archive")

type badArchive struct{ error }

func (e *badArchive) Unwrap() error        { return e.error }
func (e *badArchive) Is(target error) bool { return target == ErrBadArchive }

// meta is what the head of an archive says about its set.
type meta struct {
	toc  *TOC
	sum  string // sha256 of the table of contents, as the archive states it
	recs []*record.Record
}

// readMeta reads and checks the head of an archive: the table of contents
// against its checksum, the records against the table of contents.
func readMeta(path string) (*meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", path, err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	next := func(want string) ([]byte, error) {
		h, err := tr.Next()
		if err != nil {
			return nil, &badArchive{fmt.Errorf("archive %s: not an ocm archive (%v); fix: pass the mirror_*.tar files written by ocm-pack", path, err)}
		}
		if h.Name != want {
			return nil, &badArchive{fmt.Errorf("archive %s: member %s where %s belongs; fix: pass the mirror_*.tar files written by ocm-pack", path, h.Name, want)}
		}
		b, err := capread.All(tr, "member "+h.Name, capread.Meta)
		if err != nil {
			return nil, &badArchive{fmt.Errorf("archive %s: reading %s: %w", path, h.Name, err)}
		}
		return b, nil
	}
	tocBytes, err := next(TOCMember)
	if err != nil {
		return nil, err
	}
	sumBytes, err := next(TOCSumMember)
	if err != nil {
		var v struct{ Version int }
		if json.Unmarshal(tocBytes, &v) == nil && v.Version == 1 {
			return nil, fmt.Errorf("archive %s: format 1, whose records no checksum covers, is not read by this ocm; fix: pack the set again with this ocm", path)
		}
		return nil, err
	}
	sum := contentOf(tocBytes).Digest
	if stated := strings.TrimSpace(string(sumBytes)); stated != sum {
		return nil, fmt.Errorf("archive %s: table of contents is damaged (its sha256 is %s, %s says %s); fix: copy the archive again", path, sum, TOCSumMember, stated)
	}
	toc := &TOC{}
	if err := json.Unmarshal(tocBytes, toc); err != nil {
		return nil, &badArchive{fmt.Errorf("archive %s: %s: %v", path, TOCMember, err)}
	}
	if toc.Version > FormatVersion {
		return nil, fmt.Errorf("archive %s: format %d is newer than this ocm reads (%d); fix: unpack with the ocm that packed it", path, toc.Version, FormatVersion)
	}
	if toc.Version < FormatVersion || toc.SetID == "" {
		return nil, fmt.Errorf("archive %s: table of contents of format %d without a set id; fix: pack the set again with this ocm", path, toc.Version)
	}
	recBytes, err := next(RecordsMember)
	if err != nil {
		return nil, err
	}
	if got := contentOf(recBytes); got != toc.Records {
		return nil, fmt.Errorf("archive %s: %s does not match the table of contents (%s, %d bytes; listed: %s, %d bytes): the records were changed or damaged; fix: copy the archive again as ocm-pack wrote it", path, RecordsMember, got.Digest, got.Size, toc.Records.Digest, toc.Records.Size)
	}
	recs, err := record.ReadAll(bytes.NewReader(recBytes), path+":"+RecordsMember)
	if err != nil {
		return nil, err
	}
	return &meta{toc: toc, sum: sum, recs: recs}, nil
}
