package archive

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
	"github.com/ocm-mirror/ocm/lib/capread"
)

// JournalFile, in the archive directory, holds the plan of the set being
// written. A pack killed midway leaves it behind; the rerun finishes that
// set (keeping the archives already written) instead of leaving them
// orphaned beside a new set, which unpack would reject as incomplete.
const JournalFile = ".ocm-pack-journal.json"

type journal struct {
	TOC     *TOC   `json:"toc"`
	Records string `json:"records"` // sha256 of the records member
	MaxSize int64  `json:"maxSize"`
}

func recordsSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func loadJournal(dir string) (*journal, error) {
	b, err := capread.File(filepath.Join(dir, JournalFile), capread.Meta)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil || j.TOC == nil {
		return nil, fmt.Errorf("%s is damaged (%v); fix: delete it and the mirror_*.tar files written after the last complete set", filepath.Join(dir, JournalFile), err)
	}
	return &j, nil
}

func (j *journal) save(dir string) error {
	b, err := json.MarshalIndent(j, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, JournalFile), append(b, '\n'), 0o644)
}

// matches tells whether the journal planned the same set: same records,
// same blobs in the same order, same size limit.
func (j *journal) matches(records []byte, blobs []Member, maxSize int64) bool {
	if j.TOC.Version != FormatVersion || j.Records != recordsSum(records) || j.MaxSize != maxSize {
		return false
	}
	i := 0
	for _, a := range j.TOC.Archives {
		for _, m := range a.Blobs {
			if i >= len(blobs) || blobs[i].Digest != m.Digest {
				return false
			}
			i++
		}
	}
	return i == len(blobs)
}

// written tells whether the archive named a is already complete in dir:
// archives appear under their final name only once whole, so one that
// belongs to the journal's set is done.
func (j *journal) written(dir string, a Archive) bool {
	m, err := readMeta(filepath.Join(dir, a.Name))
	return err == nil && m.toc.SetID == j.TOC.SetID
}

// discard removes what an abandoned set left: its archives and the journal.
// It goes by the set id alone, so archives of an older format go too.
func (j *journal) discard(dir string) error {
	for _, a := range j.TOC.Archives {
		if peekSetID(filepath.Join(dir, a.Name)) == j.TOC.SetID {
			if err := os.Remove(filepath.Join(dir, a.Name)); err != nil {
				return err
			}
		}
	}
	return os.Remove(filepath.Join(dir, JournalFile))
}

// peekSetID is the set id in the table of contents at the head of the
// archive at path, unchecked; "" if there is none.
func peekSetID(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	tr := tar.NewReader(f)
	if h, err := tr.Next(); err != nil || h.Name != TOCMember {
		return ""
	}
	var t struct {
		SetID string `json:"setID"`
	}
	if json.NewDecoder(io.LimitReader(tr, 256<<20)).Decode(&t) != nil {
		return ""
	}
	return t.SetID
}
