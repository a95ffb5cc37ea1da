// Package verify checks content against its digest while it streams.
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// ErrMismatch is wrapped by every error a Reader returns for content that is
// not what its digest and size say.
var ErrMismatch = errors.New("content does not match its descriptor")

// Reader checks a stream against its digest (and size, when known).
type Reader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want string
	size int64
	n    int64
}

// NewReader wraps rc; size < 0 means unknown.
func NewReader(rc io.ReadCloser, digest string, size int64) (*Reader, error) {
	if !ValidDigest(digest) {
		return nil, fmt.Errorf("unsupported digest %q (ocm verifies sha256 digests)", digest)
	}
	return &Reader{rc: rc, h: sha256.New(), want: digest, size: size}, nil
}

func (v *Reader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		return n, fmt.Errorf("blob %s: more than the expected %d bytes: %w", v.want, v.size, ErrMismatch)
	}
	if err == io.EOF {
		if v.size >= 0 && v.n != v.size {
			return n, fmt.Errorf("blob %s: got %d bytes, expected %d: %w (%w)", v.want, v.n, v.size, io.ErrUnexpectedEOF, ErrMismatch)
		}
		if got := "sha256:" + hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("blob %s: content has digest %s (digest mismatch): %w", v.want, got, ErrMismatch)
		}
	}
	return n, err
}

func (v *Reader) Close() error { return v.rc.Close() }

// Verifier is a reader that checks its own stream against a digest (and
// fails at EOF on a mismatch): a consumer given one that Verifies the
// digest and size it wants need not hash the stream a second time.
type Verifier interface {
	Verifies(digest string, size int64) bool
}

// Verifies tells whether v checks digest and size (size < 0: any).
func (v *Reader) Verifies(digest string, size int64) bool {
	return v.want == digest && (size < 0 || v.size == size)
}

// Count is how many bytes went through so far.
func (v *Reader) Count() int64 { return v.n }

// ValidDigest reports whether d is a well-formed sha256 digest.
func ValidDigest(d string) bool {
	if !strings.HasPrefix(d, "sha256:") || len(d) != 71 {
		return false
	}
	_, err := hex.DecodeString(d[7:])
	return err == nil && strings.ToLower(d) == d
}

// Digest returns the sha256 digest of b.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}
