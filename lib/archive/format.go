// Package archive writes and reads ocm's archive sets: plain tar files that
// carry cached blobs across an air gap. Inside each tar the blobs keep their
// OCI image layout paths (blobs/sha256/<hex>), so extracting every archive of a
// set into one folder gives an OCI layout; ocm's own metadata lives under
// ocm/: the records of the whole image set and a table of contents of the set
// (every archive, every member, its digest and size, and the records'
// digest) with its own checksum, so the far side can verify everything before
// touching a registry.
package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Names inside an archive, in this order at its head.
const (
	TOCMember = "ocm/toc.json"
	// TOCSumMember holds "sha256:<hex>" of TOCMember: a damaged table of
	// contents is told apart from records or blobs that do not match it.
	TOCSumMember  = "ocm/toc.json.sha256"
	RecordsMember = "ocm/records.jsonl"
	LayoutMember  = "oci-layout"
	IndexMember   = "index.json"
	// FormatVersion 2 added the records' digest, the TOC checksum and the
	// previous set; version 1 archives are refused (their records were not
	// covered, so nothing could tell a tampered one).
	FormatVersion = 2
)

// ErrMixedSets: the archives given are not one set, nor consecutive sets of
// one archive directory. Nothing was loaded; the input must change.
var ErrMixedSets = errors.New("archives of different sets")

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
	// Previous is the set written before this one into the same archive
	// directory: sets given together to unpack must follow one another.
	Previous string `json:"previous,omitempty"`
	// Records is the digest and size of the records member every archive
	// of the set carries.
	Records Content `json:"records"`
}

// Content identifies a member's bytes.
type Content struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

func contentOf(b []byte) Content {
	s := sha256.Sum256(b)
	return Content{Digest: "sha256:" + hex.EncodeToString(s[:]), Size: int64(len(b))}
}

// Has tells whether name is one of the set's archives.
func (t *TOC) Has(name string) bool {
	for _, a := range t.Archives {
		if a.Name == name {
			return true
		}
	}
	return false
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
