package record

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestRoundTripKeepsUnknownFields(t *testing.T) {
	in := `{"v":1,"origin":"additional","source":"quay.io/a/b:1","digest":"sha256:aa","status":"planned","zeta":{"x":1},"alpha":"keep"}`
	var r Record
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	r.Status = StatusPushed
	r.Target = "mirror/a/b:1"
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"origin":"additional","source":"quay.io/a/b:1","digest":"sha256:aa","status":"pushed","target":"mirror/a/b:1","alpha":"keep","zeta":{"x":1}}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if v, ok := r.Extra("zeta"); !ok || string(v) != `{"x":1}` {
		t.Fatalf("Extra(zeta) = %s %v", v, ok)
	}
}

func TestSetExtraRefusesKnownNames(t *testing.T) {
	var r Record
	if err := r.SetExtra("digest", "x"); err == nil {
		t.Fatal("SetExtra(digest) accepted a schema field")
	}
	if err := r.SetExtra("note", "x"); err != nil {
		t.Fatal(err)
	}
}

func TestReaderErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"not json", "hello\n", "stdin:1: not an image record"},
		{"bad version", `{"v":9,"origin":"additional","source":"a","status":"planned"}`, "stdin:1: schema version 9 not supported"},
		{"bad origin", `{"v":1,"origin":"x","source":"a","status":"planned"}`, `unknown origin "x"`},
		{"no source", `{"v":1,"origin":"release","status":"planned"}`, "missing source"},
		{"bad status", `{"v":1,"origin":"release","source":"a","status":"done"}`, `unknown status "done"`},
		{"failed without error", `{"v":1,"origin":"release","source":"a","status":"failed"}`, "without an error"},
		{"line counted past blanks", "\n\n{}\n", "stdin:3:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(c.in), "stdin").Next()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestWriterReaderStream(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, s := range []string{"a/b:1", "c/d:2", "e/f@sha256:00"} {
		if err := w.Write(&Record{Origin: OriginAdditional, Source: s, Status: StatusPlanned}); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Fatalf("%d lines, want 3", n)
	}
	rd := NewReader(&buf, "buf")
	var got []string
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.V != Version {
			t.Fatalf("v = %d", r.V)
		}
		got = append(got, r.Source)
	}
	if strings.Join(got, ",") != "a/b:1,c/d:2,e/f@sha256:00" {
		t.Fatalf("got %v", got)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(`{"v":1,"origin":"additional","source":"a:1","status":"planned","x":[1,2]}`)
	f.Add("{}\n{\"v\":1}")
	f.Fuzz(func(t *testing.T, s string) {
		rd := NewReader(strings.NewReader(s), "fuzz")
		for i := 0; i < 100; i++ {
			r, err := rd.Next()
			if err != nil {
				if err != io.EOF && strings.Contains(err.Error(), "\n") {
					t.Fatalf("multi-line error: %q", err)
				}
				return
			}
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("record read but not written back: %v", err)
			}
		}
	})
}

// attachments is a schema field: decoded into Attachments (not kept as an
// unknown field, which would write it twice) and written back unchanged.
func TestAttachmentsRoundTrip(t *testing.T) {
	in := `{"v":1,"origin":"additional","source":"q.io/a:1","digest":"sha256:aa","status":"pushed","attachments":[{"kind":"signature","digest":"sha256:bb","mediaType":"application/vnd.oci.image.manifest.v1+json","size":5,"tag":"sha256-aa.sig","subject":"sha256:aa"},{"kind":"referrer","digest":"sha256:cc","artifactType":"application/spdx+json","subject":"sha256:aa"}]}`
	var r Record
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Attachments) != 2 || r.Attachments[1].ArtifactType != "application/spdx+json" || r.Attachments[0].Tag != "sha256-aa.sig" {
		t.Fatalf("decoded %+v", r.Attachments)
	}
	if _, ok := r.Extra("attachments"); ok {
		t.Fatal("attachments kept as an unknown field")
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Fatalf("got  %s\nwant %s", out, in)
	}
}
