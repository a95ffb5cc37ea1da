package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ocm-mirror/ocm/lib/pipeline"
	"github.com/ocm-mirror/ocm/lib/record"
)

// TestRunExitCodes: the code an error carries is the command's, else 1.
func TestRunExitCodes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		err  error
		want int
	}{
		{"ok", nil, pipeline.ExitOK, nil, pipeline.ExitOK},
		{"code from work", nil, pipeline.ExitImageFailed, nil, pipeline.ExitImageFailed},
		{"plain error", nil, 0, errors.New("boom"), pipeline.ExitImageFailed},
		{"usage error", nil, 0, Usagef("bad %s", "input"), pipeline.ExitUsage},
		{"wrapped usage error", nil, 0, fmt.Errorf("ctx: %w", Usage(errors.New("bad"))), pipeline.ExitUsage},
		{"interrupted", nil, 0, Exit(pipeline.ExitInterrupted, errors.New("stop")), pipeline.ExitInterrupted},
		{"unknown flag", []string{"--nope"}, 0, nil, pipeline.ExitUsage},
		{"help", []string{"--help"}, 0, errors.New("not run"), pipeline.ExitOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New("test", "usage")
			c.RegisterLocal(c.Flags, 0)
			got := c.Run(tc.args, func(context.Context) (int, error) { return tc.code, tc.err })
			if got != tc.want {
				t.Fatalf("exit %d, want %d", got, tc.want)
			}
		})
	}
	if Usage(nil) != nil || Exit(2, nil) != nil {
		t.Fatal("a nil error must stay nil")
	}
}

func TestWriteRecordsCounts(t *testing.T) {
	recs := []*record.Record{
		{V: record.Version, Source: "a", Status: record.StatusCached, Stage: "fetch"},
		{V: record.Version, Source: "b", Status: record.StatusFailed, Stage: "plan", Error: "x"},
	}
	var buf bytes.Buffer
	tally, err := WriteRecords(&buf, recs, func(r *record.Record) bool { return r.Stage != "fetch" })
	if err != nil {
		t.Fatal(err)
	}
	if tally.Total != 2 || len(tally.Upstream) != 1 || len(tally.Failed) != 0 {
		t.Fatalf("tally %+v", tally)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 2 {
		t.Fatalf("%d records written, want 2", n)
	}
	if tally, _ := WriteRecords(nil, recs, func(*record.Record) bool { return true }); tally.Total != 2 {
		t.Fatalf("nil writer: tally %+v", tally)
	}
}
