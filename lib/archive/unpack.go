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
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/verify"
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
// sets are loaded oldest first, and the records are those of the newest set,
// which describe the whole image set. Every blob is checked against its digest and size as
// it streams; a bad one never reaches the cache. Records whose images lack a
// blob afterwards come back failed, naming the blob and the archive that
// should have carried it.
func (u *Unpacker) Unpack(ctx context.Context, files []string) (*UnpackResult, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no archives given")
	}
	sets, err := groupSets(files)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			u.Meter.AddTotal(fi.Size())
		}
	}
	u.Meter.Final()
	res := &UnpackResult{}
	where := map[string]string{}
	for _, s := range sets {
		if err := u.loadSet(ctx, s.meta.toc, s.files, res); err != nil {
			return res, err
		}
		for d, a := range s.meta.toc.Locate() {
			where[d] = a
		}
		res.Records = s.meta.recs
	}
	// Check each image is whole in the cache now.
	for _, r := range res.Records {
		if r.Done() {
			continue
		}
		if err := u.complete(r, where); err != nil {
			r.Fail("unpack", err)
		} else {
			r.Status, r.Stage, r.Error = record.StatusCached, "unpack", ""
			if err := u.Cache.Tag(r.Source, manifest.Descriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size}); err != nil {
				r.Fail("unpack", err)
			}
		}
	}
	return res, nil
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
	if n := len(names); n > 4 {
		return fmt.Sprintf("%s ... %s (%d)", names[0], names[n-1], n)
	}
	return strings.Join(names, ", ")
}

// loadSet loads one set's archives, noting missing or damaged ones.
func (u *Unpacker) loadSet(ctx context.Context, toc *TOC, files []string, res *UnpackResult) error {
	given := map[string]string{}
	for _, f := range files {
		given[filepath.Base(f)] = f
	}
	for _, a := range toc.Archives {
		if _, ok := given[a.Name]; !ok {
			res.Problems = append(res.Problems, fmt.Sprintf("archive %s of set %s is missing (%d blobs); fix: copy every mirror_*.tar of the set", a.Name, toc.SetID, len(a.Blobs)))
			continue
		}
		n, problems := u.load(ctx, given[a.Name], toc.SetID, a)
		res.Loaded += n
		res.Problems = append(res.Problems, problems...)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// complete checks r's image is entirely in the cache.
func (u *Unpacker) complete(r *record.Record, where map[string]string) error {
	why := func(d string) error {
		if a, ok := where[d]; ok {
			return fmt.Errorf("blob %s did not load: archive %s is missing or damaged", d, a)
		}
		return fmt.Errorf("blob %s is in no archive of this set and not in the cache; fix: unpack the earlier archive sets first, or pack this set with --full", d)
	}
	if ok, _ := u.Cache.Has(r.Digest); !ok {
		return why(r.Digest)
	}
	members, err := RecordBlobs(u.Cache, r)
	if missing := (*cache.MissingError)(nil); errors.As(err, &missing) {
		return why(missing.Digest)
	}
	if err != nil {
		return err
	}
	for _, m := range members {
		if ok, _ := u.Cache.Has(m.Digest); !ok {
			return why(m.Digest)
		}
	}
	return nil
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

// load streams one archive's blobs into the cache.
func (u *Unpacker) load(ctx context.Context, path, setID string, want Archive) (int64, []string) {
	var problems []string
	bad := func(format string, args ...any) {
		p := fmt.Sprintf("archive %s: ", filepath.Base(path)) + fmt.Sprintf(format, args...)
		problems = append(problems, p)
		u.Log.Errorf("%s", p)
	}
	f, err := os.Open(path)
	if err != nil {
		bad("%v", err)
		return 0, problems
	}
	defer f.Close()
	sizes := map[string]int64{}
	for _, b := range want.Blobs {
		sizes[b.Digest] = b.Size
	}
	var loaded int64
	got := map[string]bool{}
	tr := tar.NewReader(u.Meter.Counter(f))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			bad("damaged or truncated after %d blobs (%v); fix: copy the archive again", len(got), err)
			break
		}
		switch {
		case h.Name == TOCMember:
			var t TOC
			b, _ := capread.All(tr, "member "+h.Name, capread.Meta)
			if json.Unmarshal(b, &t) != nil || t.SetID != setID {
				bad("belongs to another archive set; fix: unpack one set at a time")
				return loaded, problems
			}
		case strings.HasPrefix(h.Name, "blobs/sha256/"):
			d := "sha256:" + strings.TrimPrefix(h.Name, "blobs/sha256/")
			size, listed := sizes[d]
			if !verify.ValidDigest(d) || !listed || size != h.Size {
				bad("member %s is not in the set's table of contents; skipped", h.Name)
				continue
			}
			n, err := u.Cache.Put(ctx, d, size, tr)
			loaded += n
			if err != nil {
				if ctx.Err() != nil {
					return loaded, problems
				}
				if errors.Is(err, io.ErrUnexpectedEOF) {
					bad("truncated inside blob %s (nothing of it was cached); fix: copy the archive again", d)
					return loaded, problems
				}
				bad("blob %s rejected: %v; fix: copy the archive again", d, errors.Unwrap(err))
				continue
			}
			got[d] = true
		}
	}
	for _, b := range want.Blobs {
		if !got[b.Digest] && len(problems) == 0 {
			bad("blob %s listed in the table of contents is absent", b.Digest)
		}
	}
	u.Log.Infof("loaded %s: %d of %d blobs, %d bytes written", filepath.Base(path), len(got), len(want.Blobs), loaded)
	return loaded, problems
}
