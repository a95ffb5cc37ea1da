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
// several sets (an ARCHIVE_DIR after incremental packs): sets are loaded
// oldest first, and the records are those of the newest set, which describe
// the whole image set. Every blob is checked against its digest and size as
// it streams; a bad one never reaches the cache. Records whose images lack a
// blob afterwards come back failed, naming the blob and the archive that
// should have carried it.
func (u *Unpacker) Unpack(ctx context.Context, files []string) (*UnpackResult, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no archives given")
	}
	type set struct {
		toc   *TOC
		recs  []*record.Record
		files []string
	}
	var sets []*set
	byID := map[string]*set{}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			u.Meter.AddTotal(fi.Size())
		}
		toc, recs, err := readMeta(f)
		if err != nil {
			return nil, &badArchive{err}
		}
		s := byID[toc.SetID]
		if s == nil {
			s = &set{toc: toc, recs: recs}
			byID[toc.SetID] = s
			sets = append(sets, s) // files are sorted, so sets come oldest first
		}
		s.files = append(s.files, f)
	}
	u.Meter.Final()
	res := &UnpackResult{}
	where := map[string]string{}
	for _, s := range sets {
		if err := u.loadSet(ctx, s.toc, s.files, res); err != nil {
			return res, err
		}
		for d, a := range s.toc.Locate() {
			where[d] = a
		}
		res.Records = s.recs
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
			if err := u.Cache.Tag(r.Source, cache.Descriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size}); err != nil {
				r.Fail("unpack", err)
			}
		}
	}
	return res, nil
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
	members, err := ImageBlobs(u.Cache, r.Digest, r.MediaType)
	if err != nil {
		// A child manifest is missing.
		msg := err.Error()
		if i := strings.Index(msg, "sha256:"); i >= 0 && len(msg) >= i+71 {
			return why(msg[i : i+71])
		}
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

// readMeta reads the table of contents and records from the head of an archive.
func readMeta(path string) (*TOC, []*record.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("archive %s: %w", path, err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var toc *TOC
	for i := 0; i < 2; i++ {
		h, err := tr.Next()
		if err != nil {
			return nil, nil, fmt.Errorf("archive %s: not an ocm archive (%v); fix: pass the mirror_*.tar files written by ocm-pack", path, err)
		}
		b, err := capread.All(tr, "member "+h.Name, capread.Meta)
		if err != nil {
			return nil, nil, fmt.Errorf("archive %s: reading %s: %w", path, h.Name, err)
		}
		switch h.Name {
		case TOCMember:
			toc = &TOC{}
			if err := json.Unmarshal(b, toc); err != nil {
				return nil, nil, fmt.Errorf("archive %s: %s: %v", path, TOCMember, err)
			}
			if toc.Version > FormatVersion {
				return nil, nil, fmt.Errorf("archive %s: format %d is newer than this ocm reads (%d); fix: unpack with the ocm that packed it", path, toc.Version, FormatVersion)
			}
		case RecordsMember:
			if toc == nil {
				return nil, nil, fmt.Errorf("archive %s: records before table of contents", path)
			}
			recs, err := record.ReadAll(bytes.NewReader(b), path+":"+RecordsMember)
			if err != nil {
				return nil, nil, err
			}
			return toc, recs, nil
		default:
			return nil, nil, fmt.Errorf("archive %s: unexpected first member %s; fix: pass the mirror_*.tar files written by ocm-pack", path, h.Name)
		}
	}
	return nil, nil, fmt.Errorf("archive %s: no records", path)
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
