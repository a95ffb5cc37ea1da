package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
	"github.com/ocm-mirror/ocm/lib/capread"
)

// HistoryFile, in the archive directory, lists every blob an earlier set
// carried, so the next pack carries only new blobs. Delete it (or pass
// --full) to pack everything again.
const HistoryFile = ".ocm-pack-history.json"

// History of packed blobs.
type History struct {
	path  string
	Blobs map[string]HistoryEntry `json:"blobs"`
	// Sets are the sets written whole, oldest first.
	Sets []SetEntry `json:"sets,omitempty"`
}

// SetEntry is one set written whole: its id and the sha256 of its records.
type SetEntry struct {
	ID      string    `json:"id"`
	Records string    `json:"records"`
	Packed  time.Time `json:"packed"`
}

// HistoryEntry says which set first carried a blob, and when.
type HistoryEntry struct {
	Set    string    `json:"set"`
	Packed time.Time `json:"packed"`
}

// LoadHistory reads dir's history; a missing file is an empty history.
func LoadHistory(dir string) (*History, error) {
	h := &History{path: filepath.Join(dir, HistoryFile), Blobs: map[string]HistoryEntry{}}
	b, err := capread.File(h.path, capread.Meta)
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, h); err != nil {
		return nil, fmt.Errorf("%s: %v; fix: delete it and pack with --full", h.path, err)
	}
	if h.Blobs == nil {
		h.Blobs = map[string]HistoryEntry{}
	}
	return h, nil
}

func (h *History) Has(digest string) bool { _, ok := h.Blobs[digest]; return ok }

func (h *History) Add(digest, set string, t time.Time) {
	if !h.Has(digest) {
		h.Blobs[digest] = HistoryEntry{Set: set, Packed: t.UTC().Truncate(time.Second)}
	}
}

// AddSet records that set was written whole.
func (h *History) AddSet(id, records string, t time.Time) {
	if !h.HasSet(id) {
		h.Sets = append(h.Sets, SetEntry{ID: id, Records: records, Packed: t.UTC().Truncate(time.Second)})
	}
}

// HasSet tells whether the set id was written whole.
func (h *History) HasSet(id string) bool {
	for _, s := range h.Sets {
		if s.ID == id {
			return true
		}
	}
	return false
}

// Last is the newest set written whole, or nil.
func (h *History) Last() *SetEntry {
	if len(h.Sets) == 0 {
		return nil
	}
	return &h.Sets[len(h.Sets)-1]
}

// Save writes the history atomically (encoding/json sorts map keys: stable diffs).
func (h *History) Save() error {
	b, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(h.path, append(b, '\n'), 0o644)
}
