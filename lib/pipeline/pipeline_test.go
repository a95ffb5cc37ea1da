package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ocm-mirror/ocm/lib/record"
)

func input(t *testing.T, recs ...*record.Record) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	w := record.NewWriter(&b)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	return &b
}

func TestRunKeepsOrderAndPassesFailedThrough(t *testing.T) {
	var recs []*record.Record
	for i := 0; i < 20; i++ {
		r := &record.Record{Origin: record.OriginAdditional, Source: fmt.Sprintf("r/%02d:1", i), Status: record.StatusPlanned}
		if i == 3 {
			r.Fail("plan", errors.New("boom upstream"))
		}
		recs = append(recs, r)
	}
	var out bytes.Buffer
	tally, err := Run(context.Background(), input(t, recs...), &out, Options{Workers: 5, Stage: "push"}, func(ctx context.Context, r *record.Record) {
		// Later records finish first, so order must come from the runner.
		var i int
		fmt.Sscanf(r.Source, "r/%d:1", &i)
		time.Sleep(time.Duration(20-i) * time.Millisecond)
		if r.Source == "r/07:1" {
			r.Fail("push", errors.New("denied"))
			return
		}
		r.Status = record.StatusPushed
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := record.ReadAll(&out, "out")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 {
		t.Fatalf("%d records out", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprintf("r/%02d:1", i); r.Source != want {
			t.Fatalf("record %d is %s, want %s", i, r.Source, want)
		}
	}
	if got[3].Error != "boom upstream" || got[3].Stage != "plan" {
		t.Fatalf("upstream failure altered: %+v", got[3])
	}
	if tally.ByStatus[record.StatusPushed] != 18 || tally.ByStatus[record.StatusFailed] != 2 {
		t.Fatalf("tally %s", tally.Line())
	}
	if len(tally.Failed) != 1 || !strings.Contains(tally.Failed[0], "r/07:1: denied") {
		t.Fatalf("failed here: %v", tally.Failed)
	}
	if len(tally.Upstream) != 1 || !strings.Contains(tally.Upstream[0], "failed in plan") {
		t.Fatalf("upstream: %v", tally.Upstream)
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	in := input(t, &record.Record{Origin: record.OriginAdditional, Source: "a:1", Status: record.StatusPlanned})
	tally, err := Run(ctx, in, &out, Options{Stage: "fetch"}, func(ctx context.Context, r *record.Record) {
		t.Error("worker ran after cancel")
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tally.Failed) != 1 || !strings.Contains(out.String(), "interrupted") {
		t.Fatalf("tally %+v out %s", tally, out.String())
	}
}

func TestRunBadInput(t *testing.T) {
	var out bytes.Buffer
	_, err := Run(context.Background(), strings.NewReader("{\"v\":1}\n"), &out, Options{}, func(context.Context, *record.Record) {})
	if err == nil || !strings.Contains(err.Error(), "stdin:1") {
		t.Fatalf("err = %v", err)
	}
}
