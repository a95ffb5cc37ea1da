package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// maxLine bounds one record line: 4 MiB for what a record holds besides
// its attachments (a few hundred bytes, a release's signatures), plus room
// for the most attachments an image may carry. A longer line is garbage,
// not a record.
const maxLine = 4<<20 + MaxAttachments*attachmentBytes

// Reader decodes records one line at a time.
type Reader struct {
	s    *bufio.Scanner
	name string
	line int
}

// NewReader reads records from r; name ("stdin", a file) appears in errors.
func NewReader(r io.Reader, name string) *Reader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), maxLine)
	return &Reader{s: s, name: name}
}

// Next returns the next record, or io.EOF. Blank lines are skipped. A bad
// line is an error naming the input and line number.
func (r *Reader) Next() (*Record, error) {
	for r.s.Scan() {
		r.line++
		b := bytes.TrimSpace(r.s.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: not an image record (%v); fix: feed this command the output of another ocm command", r.name, r.line, err)
		}
		if err := rec.Validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", r.name, r.line, err)
		}
		return &rec, nil
	}
	if err := r.s.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes is not an image record", r.name, r.line+1, maxLine)
		}
		return nil, fmt.Errorf("reading %s: %w", r.name, err)
	}
	return nil, io.EOF
}

// ReadAll reads every record.
func ReadAll(r io.Reader, name string) ([]*Record, error) {
	rd := NewReader(r, name)
	var out []*Record
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

// Writer encodes records, one per line, and flushes each line so the next
// stage of a pipe can start on it at once. Safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

func (w *Writer) Write(rec *Record) error {
	if rec.V == 0 {
		rec.V = Version
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.w.Write(b)
	return err
}
