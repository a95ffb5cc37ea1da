// Package archive writes and reads ocm's archive sets: plain tar files that
// carry cached blobs across an air gap. Inside each tar the blobs keep their
// OCI image layout paths (blobs/sha256/<hex>), so extracting every archive of a
// set into one folder gives an OCI layout; ocm's own metadata lives under
// ocm/: the records of the whole image set and a table of contents of the set
// (every archive, every member, its digest and size), so the far side can
// verify everything before touching a registry.
package archive

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Names inside an archive.
const (
	RecordsMember = "ocm/records.jsonl"
	TOCMember     = "ocm/toc.json"
	LayoutMember  = "oci-layout"
	IndexMember   = "index.json"
	FormatVersion = 1
)

// archiveName is mirror_NNNNNN.tar.
var archiveName = regexp.MustCompile(`^mirror_(\d{6})\.tar$`)

// Name is the file name of archive number n (1-based).
func Name(n int) string { return fmt.Sprintf("mirror_%06d.tar", n) }

// TOC describes a whole archive set; every archive of the set carries it.
type TOC struct {
	Version int `json:"version"`
	// SetID is the same in every archive of one set, and new for each set.
	SetID    string    `json:"setID"`
	Created  time.Time `json:"created"`
	Archives []Archive `json:"archives"`
	// Incremental sets carry only blobs that earlier sets did not; Since
	// says from when (RFC 3339 date) when --since chose them.
	Incremental bool   `json:"incremental,omitempty"`
	Since       string `json:"since,omitempty"`
}

// Archive is one tar of the set.
type Archive struct {
	Name  string   `json:"name"`
	Size  int64    `json:"size"` // bytes of blob content it carries
	Blobs []Member `json:"blobs"`
}

// Member is one blob of an archive.
type Member struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Locate maps each blob digest to the archive carrying it.
func (t *TOC) Locate() map[string]string {
	m := map[string]string{}
	for _, a := range t.Archives {
		for _, b := range a.Blobs {
			m[b.Digest] = a.Name
		}
	}
	return m
}

func (t *TOC) marshal() ([]byte, error) { return json.MarshalIndent(t, "", " ") }
