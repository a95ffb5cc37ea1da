package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
	"github.com/ocm-mirror/ocm/lib/cache"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/progress"
	"github.com/ocm-mirror/ocm/lib/record"
)

// Packer writes archive sets from the cache.
type Packer struct {
	Cache   *cache.Cache
	OutDir  string
	MaxSize int64 // bytes per archive file; 0: one archive
	// Strict fails when one blob alone is larger than MaxSize; otherwise
	// such a blob gets an archive of its own, with a warning.
	Strict bool
	// Full ignores the history of earlier sets and packs every blob.
	Full bool
	// Since, when set, packs the blobs first cached on or after it (instead of
	// those no earlier set carried).
	Since time.Time
	Log   *logging.Logger
	// Meter, when set, counts blob bytes to pack and packed.
	Meter *progress.Meter
	now   func() time.Time
	// damaged names blobs found damaged in the cache during this pack
	// (removed from it since), with what was wrong.
	damaged map[string]error
	metered bool
}

// Result of a pack.
type Result struct {
	TOC    *TOC
	Files  []string // archive paths written
	Packed int64    // blob bytes packed
	Kept   int      // archives an interrupted earlier pack had written
	// Unchanged names the newest set when it already carries these records
	// and every blob: nothing was written (TOC is nil).
	Unchanged string
	Skipped   int // blobs left out because earlier sets carried them
}

// Pack writes the archives for recs. Records whose image is not complete in
// the cache, or has a damaged blob there, are marked failed (and their blobs
// left out); the error is for problems that stop the whole pack. It holds
// the archive directory locked (ErrBusy if another pack does). A record
// without digest or destination fails: an archive carries only images
// ocm-push can push.
func (p *Packer) Pack(ctx context.Context, recs []*record.Record) (*Result, error) {
	for _, r := range recs {
		if !r.Done() && (r.Digest == "" || r.Destination == "") {
			r.Fail("pack", fmt.Errorf("record has no digest or destination; fix: feed ocm-pack the output of ocm-fetch"))
		}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if err := os.MkdirAll(p.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("archive directory: %w", err)
	}
	unlock, err := lockDir(p.OutDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Under the lock no other pack writes here: every temp file is a
	// killed one's (atomicfile tells by their locks all the same).
	removed, err := atomicfile.CleanStale(p.OutDir)
	if err != nil {
		return nil, fmt.Errorf("archive directory %s: removing temp files of killed runs: %w", p.OutDir, err)
	}
	if len(removed) > 0 {
		p.Log.Infof("removed %d temp files a killed pack left in %s", len(removed), p.OutDir)
	}
	for {
		res, err := p.pack(ctx, recs)
		var bad *damagedBlob
		if !errors.As(err, &bad) {
			return res, err
		}
		// A blob the cache holds damaged (same size, other bytes: only
		// reading it tells). Drop it from the cache so the next fetch
		// gets it again, and write the set anew without its images.
		if err := p.Cache.Remove(bad.digest); err != nil {
			return nil, err
		}
		p.Log.Errorf("damaged in the cache: %v; removed from it: the images using it fail, fix: run ocm-fetch for them again", bad.err)
		if p.damaged == nil {
			p.damaged = map[string]error{}
		}
		p.damaged[bad.digest] = bad.err
		j, err := loadJournal(p.OutDir)
		if err != nil {
			return nil, err
		}
		if j != nil {
			if err := j.discard(p.OutDir); err != nil {
				return nil, fmt.Errorf("removing the archives written before the damaged blob: %w", err)
			}
		}
	}
}

// damagedBlob is a cached blob that failed to read back as its digest; err
// names the blob.
type damagedBlob struct {
	digest string
	err    error
}

func (d *damagedBlob) Error() string { return d.err.Error() }

// cacheReader tells a failure to read a cached blob (damaged content, an
// I/O error) from one to write the archive. The cache's reader names the
// blob in its errors.
type cacheReader struct {
	r      io.Reader
	digest string
	err    error
}

func (c *cacheReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = &damagedBlob{digest: c.digest, err: err}
	}
	return n, err
}

func (p *Packer) pack(ctx context.Context, recs []*record.Record) (*Result, error) {
	hist, err := LoadHistory(p.OutDir)
	if err != nil {
		return nil, err
	}

	// Every blob of every image, in record order, once.
	var blobs []Member
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Done() {
			continue
		}
		members, err := RecordBlobs(p.Cache, r)
		if err == nil {
			for _, m := range members {
				ok, size := p.Cache.Has(m.Digest)
				switch {
				case p.damaged[m.Digest] != nil:
					err = fmt.Errorf("damaged in the cache: %v; removed from it; fix: run ocm-fetch for this image again", p.damaged[m.Digest])
				case !ok:
					err = fmt.Errorf("blob %s is not in the cache; fix: run ocm-fetch for this image first", m.Digest)
				case size != m.Size:
					err = fmt.Errorf("blob %s is damaged in the cache (%d bytes, its manifest says %d); fix: run ocm-fetch for this image again, it fetches the blob anew", m.Digest, size, m.Size)
				}
				if err != nil {
					break
				}
			}
		} else {
			err = fmt.Errorf("%v; fix: run ocm-fetch for this image again", err)
		}
		if err != nil {
			r.Fail("pack", err)
			continue
		}
		r.Stage = "pack"
		for _, m := range members {
			if !seen[m.Digest] {
				seen[m.Digest] = true
				blobs = append(blobs, m)
			}
		}
	}

	res := &Result{}
	var chosen []Member
	for _, b := range blobs {
		switch {
		case !p.Since.IsZero():
			fi, err := os.Stat(p.Cache.BlobPath(b.Digest))
			if err != nil {
				return nil, err
			}
			if fi.ModTime().Before(p.Since) {
				res.Skipped++
				continue
			}
		case !p.Full && hist.Has(b.Digest):
			res.Skipped++
			continue
		}
		chosen = append(chosen, b)
	}

	if !p.metered {
		// Once: a pack started anew after a damaged blob redoes work
		// already counted.
		for _, b := range chosen {
			p.Meter.AddTotal(b.Size)
		}
		p.Meter.Final()
		p.metered = true
	}

	var recBuf bytes.Buffer
	w := record.NewWriter(&recBuf)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			return nil, err
		}
	}
	j, err := loadJournal(p.OutDir)
	if err != nil {
		return nil, err
	}
	if j != nil && hist.HasSet(j.TOC.SetID) {
		// Killed after recording the set, before removing the journal.
		if err := os.Remove(filepath.Join(p.OutDir, JournalFile)); err != nil {
			return nil, err
		}
		j = nil
	}
	if last := hist.Last(); j == nil && len(chosen) == 0 && last != nil && last.Records == recordsSum(recBuf.Bytes()) {
		// Same images as the newest set and no new blob: a rerun of the
		// same pack writes nothing.
		p.Log.Infof("nothing new since set %s of %s: no archive written", last.ID, last.Packed.Format(time.RFC3339))
		res.Unchanged = last.ID
		return res, nil
	}
	if j != nil && !j.matches(recBuf.Bytes(), chosen, p.MaxSize) {
		p.Log.Warnf("an earlier pack of a different image set stopped midway; removing its archives")
		if err := j.discard(p.OutDir); err != nil {
			return nil, fmt.Errorf("removing the unfinished set: %w", err)
		}
		j = nil
	}
	if j == nil {
		toc := &TOC{Version: FormatVersion, SetID: newID(), Created: p.now().UTC().Truncate(time.Second), Incremental: res.Skipped > 0, Records: contentOf(recBuf.Bytes())}
		if last := hist.Last(); last != nil {
			toc.Previous = last.ID
		}
		if !p.Since.IsZero() {
			toc.Since = p.Since.Format("2006-01-02")
		}
		first, err := nextNumber(p.OutDir)
		if err != nil {
			return nil, err
		}
		if err := p.split(toc, chosen, int64(recBuf.Len()), first); err != nil {
			return nil, err
		}
		j = &journal{TOC: toc, Records: recordsSum(recBuf.Bytes()), MaxSize: p.MaxSize}
		if err := j.save(p.OutDir); err != nil {
			return nil, fmt.Errorf("archive directory: %w", err)
		}
	} else {
		p.Log.Infof("finishing set %s, which an earlier pack left midway", j.TOC.SetID)
	}
	toc := j.TOC
	index, err := layoutIndex(recs)
	if err != nil {
		return nil, err
	}
	tocBytes, err := toc.marshal()
	if err != nil {
		return nil, err
	}
	for _, a := range toc.Archives {
		path := filepath.Join(p.OutDir, a.Name)
		if j.written(p.OutDir, a) {
			p.Meter.Done(a.Size, false)
			res.Files = append(res.Files, path)
			res.Kept++
			p.Log.Infof("kept %s: written by the earlier pack", path)
			continue
		}
		n, err := atomicfile.Write(path, func(w io.Writer) error {
			return p.writeTar(ctx, w, a, tocBytes, recBuf.Bytes(), index)
		}, 0o644)
		var bad *damagedBlob
		if errors.As(err, &bad) {
			return nil, bad
		}
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
		if p.MaxSize > 0 && n > p.MaxSize && !(len(a.Blobs) == 1 && a.Blobs[0].Size+overhead >= p.MaxSize) {
			return nil, fmt.Errorf("%s is %d bytes, over the %d limit (ocm bug: metadata estimate)", path, n, p.MaxSize)
		}
		res.Files = append(res.Files, path)
		res.Packed += a.Size
		p.Log.Infof("wrote %s: %d blobs, %d bytes", path, len(a.Blobs), n)
	}
	for _, b := range chosen {
		hist.Add(b.Digest, toc.SetID, p.now())
	}
	hist.AddSet(toc.SetID, j.Records, p.now())
	if err := hist.Save(); err != nil {
		return nil, err
	}
	// The set is whole and recorded: a rerun starts a new one.
	if err := os.Remove(filepath.Join(p.OutDir, JournalFile)); err != nil {
		return nil, err
	}
	res.TOC = toc
	return res, nil
}

// overhead is what an archive needs beyond its blobs' tar entries: the end
// of archive, the small layout files and their headers.
const overhead = 8 << 10

// tarSize is a member's size inside a tar: header plus padded content.
func tarSize(n int64) int64 { return 512 + (n+511)/512*512 }

// split assigns blobs to archives, in order, each within MaxSize.
func (p *Packer) split(toc *TOC, blobs []Member, recordsSize int64, first int) error {
	// Every archive repeats the records and the table of contents; the TOC
	// grows with the blob count, ~120 bytes per blob.
	meta := tarSize(recordsSize) + tarSize(int64(len(blobs))*130+4096) + tarSize(int64(len(blobs))*200+4096) + overhead
	if p.MaxSize > 0 && meta >= p.MaxSize {
		return fmt.Errorf("archive size %d bytes cannot even hold the set's metadata (%d bytes); fix: raise --archive-size", p.MaxSize, meta)
	}
	cur := Archive{}
	used := meta
	flush := func() {
		if len(cur.Blobs) > 0 {
			cur.Name = Name(first + len(toc.Archives))
			toc.Archives = append(toc.Archives, cur)
		}
		cur, used = Archive{}, meta
	}
	for _, b := range blobs {
		need := tarSize(b.Size)
		if p.MaxSize > 0 && meta+need > p.MaxSize {
			if p.Strict {
				return fmt.Errorf("blob %s (%d bytes) does not fit in an archive of %d bytes (--strict-archive); fix: raise archiveSize or drop --strict-archive", b.Digest, b.Size, p.MaxSize)
			}
			p.Log.Warnf("blob %s (%d bytes) is larger than the archive size: it gets an archive of its own", b.Digest, b.Size)
			flush()
			cur.Blobs, cur.Size = []Member{b}, b.Size
			flush()
			continue
		}
		if p.MaxSize > 0 && used+need > p.MaxSize {
			flush()
		}
		cur.Blobs = append(cur.Blobs, b)
		cur.Size += b.Size
		used += need
	}
	flush()
	if len(toc.Archives) == 0 {
		// Nothing new: still one archive, so the far side gets the records.
		toc.Archives = []Archive{{Name: Name(first), Blobs: []Member{}}}
	}
	return nil
}

// layoutIndex is an OCI index.json naming each record's image by its source,
// so the extracted set is a layout skopeo can read.
func layoutIndex(recs []*record.Record) ([]byte, error) {
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations"`
	}
	idx := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Manifests     []desc `json:"manifests"`
	}{2, "application/vnd.oci.image.index.v1+json", []desc{}}
	for _, r := range recs {
		if r.Done() || r.Digest == "" {
			continue
		}
		idx.Manifests = append(idx.Manifests, desc{r.MediaType, r.Digest, r.Size, map[string]string{cache.RefAnnotation: r.Source}})
	}
	return json.MarshalIndent(idx, "", " ")
}

// writeTar writes one archive: metadata first (so unpack learns the set
// before the blobs), then the blobs, then the layout files.
func (p *Packer) writeTar(ctx context.Context, w io.Writer, a Archive, toc, recs, index []byte) error {
	tw := tar.NewWriter(w)
	mtime := p.now().UTC().Truncate(time.Second)
	small := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := small(TOCMember, toc); err != nil {
		return err
	}
	if err := small(TOCSumMember, []byte(contentOf(toc).Digest+"\n")); err != nil {
		return err
	}
	if err := small(RecordsMember, recs); err != nil {
		return err
	}
	for _, b := range a.Blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, size, err := p.Cache.Open(b.Digest)
		if err != nil {
			return &damagedBlob{digest: b.Digest, err: fmt.Errorf("blob %s: %w", b.Digest, err)}
		}
		if size != b.Size {
			rc.Close()
			return &damagedBlob{digest: b.Digest, err: fmt.Errorf("blob %s: %d bytes, expected %d", b.Digest, size, b.Size)}
		}
		err = tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + b.Digest[7:], Mode: 0o644, Size: size, ModTime: mtime, Typeflag: tar.TypeReg})
		cr := &cacheReader{r: rc, digest: b.Digest}
		if err == nil {
			// The cache reader verifies the digest as it streams.
			_, err = io.Copy(tw, p.Meter.Counter(cr))
		}
		rc.Close()
		if cr.err != nil {
			return cr.err
		}
		if err != nil {
			return fmt.Errorf("packing blob %s: %w", b.Digest, err)
		}
	}
	if err := small(LayoutMember, []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := small(IndexMember, index); err != nil {
		return err
	}
	return tw.Close()
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// nextNumber is the archive number after the highest in dir, so a new
// (incremental) set never overwrites an earlier one.
func nextNumber(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if m := archiveName.FindStringSubmatch(e.Name()); m != nil {
			var k int
			fmt.Sscan(m[1], &k)
			n = max(n, k)
		}
	}
	return n + 1, nil
}
