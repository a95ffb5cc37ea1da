package verify

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestValidDigest(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	cases := []struct {
		d    string
		want bool
	}{
		{"sha256:" + hex64, true},
		{Digest([]byte("x")), true},
		{"", false},
		{"sha256:", false},
		{"sha256:" + hex64[:63], false},
		{"sha256:" + hex64 + "0", false},
		{"sha256:" + strings.ToUpper(hex64), false},
		{"SHA256:" + hex64, false},
		{"sha512:" + hex64, false},
		{"sha256:" + hex64[:62] + "zz", false},
		{"sha256:" + hex64[:62] + "/.", false},
		{hex64, false},
	}
	for _, tc := range cases {
		if got := ValidDigest(tc.d); got != tc.want {
			t.Errorf("ValidDigest(%q) = %v, want %v", tc.d, got, tc.want)
		}
	}
}

func TestDigest(t *testing.T) {
	// sha256 of the empty string, a well-known value.
	if got, want := Digest(nil), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Fatalf("Digest(empty) = %s, want %s", got, want)
	}
}

func TestReader(t *testing.T) {
	content := []byte("the content of a blob")
	good := Digest(content)
	n := int64(len(content))
	cases := []struct {
		name    string
		digest  string
		size    int64
		body    io.Reader
		errWith string // "" reads cleanly
		eof     bool   // the error wraps io.ErrUnexpectedEOF
	}{
		{name: "digest and size", digest: good, size: n, body: bytes.NewReader(content)},
		{name: "size unknown", digest: good, size: -1, body: bytes.NewReader(content)},
		{name: "one byte at a time", digest: good, size: n, body: iotest.OneByteReader(bytes.NewReader(content))},
		{name: "digest mismatch", digest: Digest([]byte("other")), size: n, body: bytes.NewReader(content), errWith: "digest mismatch"},
		{name: "digest mismatch, size unknown", digest: Digest([]byte("other")), size: -1, body: bytes.NewReader(content), errWith: "digest mismatch"},
		{name: "short read", digest: good, size: n + 5, body: bytes.NewReader(content), errWith: "expected", eof: true},
		{name: "long read", digest: good, size: n - 5, body: bytes.NewReader(content), errWith: "more than the expected"},
		{name: "right length, other bytes", digest: good, size: n, body: strings.NewReader(strings.Repeat("x", int(n))), errWith: "digest mismatch"},
		{name: "error of the source", digest: good, size: n, body: iotest.TimeoutReader(bytes.NewReader(content)), errWith: "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(io.NopCloser(tc.body), tc.digest, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if tc.errWith == "" {
				if err != nil || !bytes.Equal(got, content) || r.Count() != n {
					t.Fatalf("read %q (%d counted), %v", got, r.Count(), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errWith) {
				t.Fatalf("error %v, want one saying %q", err, tc.errWith)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) != tc.eof {
				t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = %v, want %v", err, !tc.eof, tc.eof)
			}
		})
	}
}

func TestNewReaderRefusesBadDigests(t *testing.T) {
	for _, d := range []string{"", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:../../x"} {
		if _, err := NewReader(io.NopCloser(strings.NewReader("")), d, 0); err == nil {
			t.Errorf("NewReader accepted digest %q", d)
		}
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestReaderCloses(t *testing.T) {
	src := &closeRecorder{Reader: strings.NewReader("x")}
	r, err := NewReader(src, Digest([]byte("x")), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil || !src.closed {
		t.Fatalf("Close = %v; source closed %v", err, src.closed)
	}
}

func TestVerifies(t *testing.T) {
	d := Digest([]byte("abc"))
	other := Digest([]byte("abd"))
	known, _ := NewReader(io.NopCloser(strings.NewReader("abc")), d, 3)
	unknown, _ := NewReader(io.NopCloser(strings.NewReader("abc")), d, -1)
	for _, c := range []struct {
		name   string
		r      *Reader
		digest string
		size   int64
		want   bool
	}{
		{"same digest and size", known, d, 3, true},
		{"any size wanted", known, d, -1, true},
		{"other size", known, d, 4, false},
		{"other digest", known, other, 3, false},
		{"size wanted, reader checks none", unknown, d, 3, false},
		{"no size either side", unknown, d, -1, true},
	} {
		if got := c.r.Verifies(c.digest, c.size); got != c.want {
			t.Errorf("%s: Verifies = %v, want %v", c.name, got, c.want)
		}
	}
}
