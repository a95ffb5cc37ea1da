package archive

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/store"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// Store is the store.Reader of the blobs that archive files carry. It is
// found by an index of member offsets read from the tar headers alone (tar
// seeks past member data), so opening a set costs a few reads per member
// whatever its size; each blob is then read in place, verified as it
// streams.
type Store struct {
	name  string
	blobs map[string]member // digest -> where it is read
	files []*os.File
	open  map[string]bool // archive names opened
	meter *progress.Meter
	log   *logging.Logger

	counted atomic.Int64 // bytes read by blob readers closed

	mu       sync.Mutex
	bad      map[string]*BlobError // blobs that failed: not read again
	problems []problem
	written  map[string]int64 // archive name -> bytes of blobs read whole
}

var _ store.Reader = (*Store)(nil)

// member is one blob's data inside an archive file.
type member struct {
	f       *os.File
	archive string // file name
	offset  int64
	size    int64
}

// problem is one line about a damaged or missing archive or blob, with
// where it was found so that lines sort in archive order.
type problem struct {
	archive string
	offset  int64
	text    string
}

// BlobError is what Store returns for a blob it cannot give: Archive is
// the file it was read from ("" when no archive given carries it; then Err
// is store.ErrNotFound).
type BlobError struct {
	Digest  string
	Archive string
	Err     error
}

func (e *BlobError) Error() string {
	if e.Archive == "" {
		return fmt.Sprintf("blob %s: %v", e.Digest, e.Err)
	}
	return fmt.Sprintf("archive %s: blob %s: %v", e.Archive, e.Digest, e.Err)
}

func (e *BlobError) Unwrap() error { return e.Err }

// openStore indexes the archives given of each set (oldest set first; a blob
// a later set carries again is read from there) and notes what is wrong
// with them: archives missing, damaged or truncated, members the table of
// contents does not list, listed blobs absent. Close it when done.
func openStore(sets []*set, meter *progress.Meter, log *logging.Logger) *Store {
	s := &Store{blobs: map[string]member{}, open: map[string]bool{}, meter: meter, log: log, bad: map[string]*BlobError{}, written: map[string]int64{}}
	var names []string
	for _, st := range sets {
		toc := st.meta.toc
		given := map[string]string{}
		for _, f := range st.files {
			given[filepath.Base(f)] = f
		}
		for _, a := range toc.Archives {
			path, ok := given[a.Name]
			if !ok {
				s.problems = append(s.problems, problem{archive: a.Name, text: fmt.Sprintf("archive %s of set %s is missing (%d blobs); fix: copy every mirror_*.tar of the set", a.Name, toc.SetID, len(a.Blobs))})
				continue
			}
			names = append(names, a.Name)
			s.index(path, toc.SetID, a)
		}
	}
	s.name = "archives " + archiveList(names)
	return s
}

// archiveList names files, the first and last only when many.
func archiveList(names []string) string {
	if n := len(names); n > 4 {
		return fmt.Sprintf("%s ... %s (%d)", names[0], names[n-1], n)
	}
	return strings.Join(names, ", ")
}

// index adds one archive's blob members, checked against the table of
// contents' list for it (want).
func (s *Store) index(path, setID string, want Archive) {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		s.note(name, 0, "%v", err)
		return
	}
	s.files = append(s.files, f)
	s.open[name] = true
	found, problems := indexTar(f, setID, want)
	for _, p := range problems {
		s.note(name, p.offset, "%s", p.text)
	}
	for d, m := range found {
		m.f, m.archive = f, name
		s.blobs[d] = m
	}
}

// indexTar reads the tar headers of r (seeking past member data) and
// returns the offset and size of every blob member want lists, and what is
// wrong with the rest.
func indexTar(r io.ReadSeeker, setID string, want Archive) (map[string]member, []problem) {
	var problems []problem
	bad := func(at int64, format string, args ...any) {
		problems = append(problems, problem{offset: at, text: fmt.Sprintf(format, args...)})
	}
	end, err := r.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = r.Seek(0, io.SeekStart)
	}
	if err != nil {
		bad(0, "%v", err)
		return nil, problems
	}
	sizes := map[string]int64{}
	for _, b := range want.Blobs {
		sizes[b.Digest] = b.Size
	}
	found := map[string]member{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		// tar reads a header in whole blocks and nothing beyond it: the
		// position now is the member's data.
		at, serr := r.Seek(0, io.SeekCurrent)
		if err == nil {
			err = serr
		}
		if err != nil {
			bad(at, "damaged or truncated after %d blobs (%v); fix: copy the archive again", len(found), err)
			break
		}
		switch {
		case h.Name == TOCMember:
			var t TOC
			b, _ := capread.All(tr, "member "+h.Name, capread.Meta)
			if json.Unmarshal(b, &t) != nil || t.SetID != setID {
				bad(at, "belongs to another archive set; fix: unpack one set at a time")
				return nil, problems
			}
		case strings.HasPrefix(h.Name, "blobs/sha256/"):
			d := "sha256:" + strings.TrimPrefix(h.Name, "blobs/sha256/")
			size, listed := sizes[d]
			if !verify.ValidDigest(d) || !listed || size != h.Size {
				bad(at, "member %s is not in the set's table of contents; skipped", h.Name)
				continue
			}
			if at+size > end {
				bad(at, "truncated inside blob %s (nothing of it was cached); fix: copy the archive again", d)
				return found, problems
			}
			found[d] = member{offset: at, size: size}
		}
	}
	if len(problems) == 0 {
		for _, b := range want.Blobs {
			if _, ok := found[b.Digest]; !ok {
				bad(end, "blob %s listed in the table of contents is absent", b.Digest)
			}
		}
	}
	return found, problems
}

// note records and logs a problem of archive name.
func (s *Store) note(name string, at int64, format string, args ...any) {
	p := problem{archive: name, offset: at, text: fmt.Sprintf("archive %s: ", name) + fmt.Sprintf(format, args...)}
	s.log.Errorf("%s", p.text)
	s.mu.Lock()
	s.problems = append(s.problems, p)
	s.mu.Unlock()
}

// Problems lists what is wrong with the archives, in archive order: what
// the index found and every blob that failed as it was read.
func (s *Store) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := append([]problem(nil), s.problems...)
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].archive != ps[j].archive {
			return ps[i].archive < ps[j].archive
		}
		return ps[i].offset < ps[j].offset
	})
	var out []string
	for _, p := range ps {
		out = append(out, p.text)
	}
	return out
}

// Opened tells whether archive name was opened.
func (s *Store) Opened(name string) bool { return s.open[name] }

// Written is the bytes of blobs read whole and verified from archive name.
func (s *Store) Written(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written[name]
}

func (s *Store) String() string { return s.name }

// Manifest reads a manifest member whole (verified) and sniffs its media
// type, as a layout keeps no other record of it.
func (s *Store) Manifest(ctx context.Context, digest string) ([]byte, string, error) {
	rc, err := s.Blob(ctx, digest, -1)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	b, err := capread.All(rc, "manifest "+digest, capread.Manifest)
	if err != nil {
		return nil, "", err
	}
	return b, manifest.Sniff(b), nil
}

// Blob opens a blob member in place. The reader counts on the meter and
// fails at EOF unless the member has the digest and its listed size; a
// blob that failed once fails again at once.
func (s *Store) Blob(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	s.mu.Lock()
	be := s.bad[digest]
	s.mu.Unlock()
	if be != nil {
		return nil, be
	}
	m, ok := s.blobs[digest]
	if !ok {
		return nil, &BlobError{Digest: digest, Err: store.ErrNotFound}
	}
	vr, err := verify.NewReader(io.NopCloser(s.meter.Counter(io.NewSectionReader(m.f, m.offset, m.size))), digest, m.size)
	if err != nil {
		return nil, &BlobError{Digest: digest, Archive: m.archive, Err: err}
	}
	return &blobReader{vr: vr, s: s, digest: digest, m: m}, nil
}

// Close closes the archive files.
func (s *Store) Close() error {
	var errs []error
	for _, f := range s.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// settle counts on the meter what no read did (headers, blobs the cache
// held or no image needed), so that it ends at the total.
func (s *Store) settle(total int64) {
	if rest := total - s.counted.Load(); rest > 0 {
		s.meter.Done(rest, false)
	}
}

// blobReader is one blob being read: at EOF it counts the blob as
// written, on a failure it notes the problem once and remembers it.
type blobReader struct {
	vr     *verify.Reader
	s      *Store
	digest string
	m      member
}

func (b *blobReader) Read(p []byte) (int, error) {
	n, err := b.vr.Read(p)
	switch {
	case err == io.EOF:
		b.s.mu.Lock()
		b.s.written[b.m.archive] += b.m.size
		b.s.mu.Unlock()
	case err != nil:
		err = b.s.fail(b.digest, b.m, err)
	}
	return n, err
}

// Verifies lets the cache skip hashing the blob a second time.
func (b *blobReader) Verifies(digest string, size int64) bool { return b.vr.Verifies(digest, size) }

func (b *blobReader) Close() error {
	b.s.counted.Add(b.vr.Count())
	return b.vr.Close()
}

// fail turns a read error into the blob's BlobError, noting it as a
// problem the first time.
func (s *Store) fail(digest string, m member, err error) error {
	be := &BlobError{Digest: digest, Archive: m.archive, Err: err}
	s.mu.Lock()
	_, seen := s.bad[digest]
	s.bad[digest] = be
	s.mu.Unlock()
	if !seen {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			s.note(m.archive, m.offset, "truncated inside blob %s (nothing of it was cached); fix: copy the archive again", digest)
		} else {
			s.note(m.archive, m.offset, "blob %s rejected: %v; fix: copy the archive again", digest, err)
		}
	}
	return be
}
