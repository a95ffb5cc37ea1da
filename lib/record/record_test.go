package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
		{"bad signature digest", `{"v":1,"origin":"release","source":"a","status":"planned","signatures":[{"digest":"sha256:ab","size":3}]}`, "signatures[0]: want"},
		{"signature without size", `{"v":1,"origin":"release","source":"a","status":"planned","signatures":[{"digest":"sha256:` + strings.Repeat("a", 64) + `"}]}`, "size 0"},
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
	for _, s := range []string{"a/b:1", "c/d:2", "e/f@sha256:0000000000000000000000000000000000000000000000000000000000000000"} {
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
	if strings.Join(got, ",") != "a/b:1,c/d:2,e/f@sha256:0000000000000000000000000000000000000000000000000000000000000000" {
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

// A tampered record must stop at the reader: its digest, repositories and
// tags go into registry URLs, and its texts into log lines.
func TestF13RecordDigestsAndRepositoriesValidated(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := []struct {
		name, fields, want string
	}{
		{"path in digest", `"source":"quay.io/a/b:1","digest":"sha256:../../x"`, `field digest "sha256:../../x"`},
		{"short digest", `"source":"quay.io/a/b:1","digest":"sha256:00"`, "field digest"},
		{"upper-case digest", `"source":"quay.io/a/b:1","digest":"sha256:` + strings.ToUpper(d[7:]) + `"`, "field digest"},
		{"other algorithm", `"source":"quay.io/a/b:1","digest":"md5:` + d[7:] + `"`, "field digest"},
		{"dot-dot in source", `"source":"quay.io/m/../victim:1"`, "field source"},
		{"dot-dot in destination", `"source":"quay.io/a/b:1","destination":"m/../victim:1"`, "field destination"},
		{"slash in tag", `"source":"quay.io/a/b:1","tag":"../x"`, "field tag"},
		{"dot-dot in target", `"source":"quay.io/a/b:1","status":"pushed","target":"mirror.example:5000/m/../victim:1"`, "field target"},
		{"target without host", `"source":"quay.io/a/b:1","status":"pushed","target":"victim:1"`, "field target"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			line := `{"v":1,"origin":"additional",` + c.fields
			if !strings.Contains(c.fields, `"status"`) {
				line += `,"status":"planned"`
			}
			line += "}\n"
			_, err := NewReader(strings.NewReader(line), "stdin").Next()
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "stdin:1: ") {
				t.Fatalf("err = %v, want stdin:1: ... %q", err, c.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v does not wrap ErrInvalid", err)
			}
		})
	}
	good := `{"v":1,"origin":"additional","source":"quay.io/a/b:1","digest":"` + d + `","tag":"1","destination":"a/b:1","status":"pushed","target":"mirror.example:5000/pre/a/b:1"}`
	if _, err := NewReader(strings.NewReader(good), "stdin").Next(); err != nil {
		t.Fatalf("a good record was refused: %v", err)
	}
}

func TestF12ControlCharactersRefused(t *testing.T) {
	for _, field := range []string{"source", "error", "package", "bundle", "catalog", "release", "stage", "mediaType", "pulledFrom"} {
		for _, c := range []string{`\n`, `\r`, `\u001b[2J`, `\u0085`, `\u007f`} {
			rec := map[string]any{"v": 1, "origin": "additional", "source": "quay.io/a/b:1", "status": "failed", "error": "boom"}
			line, _ := json.Marshal(rec)
			// the value is spliced in raw so that the JSON escape is what arrives
			s := strings.Replace(string(line), "{", `{"`+field+`":"x`+c+`FAKE [ERROR] line",`, 1)
			s = strings.Replace(s, `"`+field+`":"`+fmt.Sprint(rec[field])+`",`, "", 1)
			_, err := NewReader(strings.NewReader(s), "stdin").Next()
			if err == nil || !strings.Contains(err.Error(), "field "+field+" holds control character") {
				t.Fatalf("%s with %s: err = %v", field, c, err)
			}
			if want := map[string]string{`\n`: `'\n'`, `\r`: `'\r'`, `\u001b[2J`: `'\x1b'`, `\u0085`: `'\u0085'`, `\u007f`: `'\x7f'`}[c]; !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not show the character as %s", err, want)
			}
			if strings.ContainsAny(err.Error(), "\n\r\x1b") {
				t.Fatalf("the error itself carries the control character: %q", err)
			}
		}
	}
}

func TestF12FailKeepsErrorsOnOneLine(t *testing.T) {
	var r Record
	r.Fail("push", errors.New("registry said: denied\n12:00:00 ocm-push [INFO] all good\r\x1b[2J"))
	if r.Error != "registry said: denied 12:00:00 ocm-push [INFO] all good [2J" {
		t.Fatalf("Error = %q", r.Error)
	}
	r.V, r.Origin, r.Source = Version, OriginAdditional, "quay.io/a/b:1"
	if err := r.Validate(); err != nil {
		t.Fatalf("a record failed by ocm does not read back: %v", err)
	}
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

// An attachment's digest, subject and tag go into registry URLs: a
// tampered one stops at the reader.
func TestAttachmentsValidated(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ att, want string }{
		{`{"kind":"signature","digest":"` + d + `","tag":"sha256-0123.sig","subject":"` + d + `"}`, ""},
		{`{"kind":"signature","digest":"sha256:../../x","subject":"` + d + `"}`, "attachments[0].digest"},
		{`{"kind":"referrer","digest":"` + d + `","subject":"sha256:00"}`, "attachments[0].subject"},
		{`{"kind":"signature","digest":"` + d + `","tag":"../x","subject":"` + d + `"}`, "attachments[0].tag"},
		{`{"kind":"payload","digest":"` + d + `","subject":"` + d + `"}`, "attachments[0].kind"},
		{`{"kind":"referrer","digest":"` + d + `","artifactType":"application/<x>","subject":"` + d + `"}`, "attachments[0].artifactType"},
		{`{"kind":"referrer","digest":"` + d + `","mediaType":"` + strings.Repeat("a", 200) + "/" + strings.Repeat("b", 200) + `","subject":"` + d + `"}`, "attachments[0].mediaType"},
	} {
		line := `{"v":1,"origin":"additional","source":"quay.io/a/b:1","digest":"` + d + `","status":"planned","attachments":[` + tc.att + "]}\n"
		_, err := NewReader(strings.NewReader(line), "stdin").Next()
		if (tc.want == "") != (err == nil) || (err != nil && (!strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid))) {
			t.Errorf("%s: err %v, want %q", tc.att, err, tc.want)
		}
	}
}

// A catalog in a local OCI layout is named oci:///abs/path; anything else
// with oci:// (relative, unclean, not a catalog) is refused.
func TestOCISourceValidated(t *testing.T) {
	cases := []struct {
		name, origin, source, want string
	}{
		{"absolute catalog layout", "operator-catalog", "oci:///srv/catalogs/redhat-index", ""},
		{"relative layout", "operator-catalog", "oci://catalogs/index", "must be absolute and clean"},
		{"dot-dot in layout", "operator-catalog", "oci:///srv/../etc", "must be absolute and clean"},
		{"empty layout", "operator-catalog", "oci://", "must be absolute and clean"},
		{"layout for an additional image", "additional", "oci:///srv/img", "only an operator catalog"},
		{"other transport", "operator-catalog", "dir:///srv/x", "field source"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			line := `{"v":1,"origin":"` + c.origin + `","source":"` + c.source + `","status":"planned"}` + "\n"
			_, err := NewReader(strings.NewReader(line), "stdin").Next()
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// TestCheckBuilt: an image ocm-plan built into its cache (graph image, chart
// artifact) cannot come from elsewhere; any other image can.
func TestCheckBuilt(t *testing.T) {
	for _, c := range []struct {
		origin Origin
		cached bool
		want   error
	}{
		{OriginGraph, false, ErrNotBuilt},
		{OriginHelmChart, false, ErrNotBuilt},
		{OriginHelmChart, true, nil},
		{OriginHelm, false, nil},
		{OriginAdditional, false, nil},
	} {
		r := &Record{Origin: c.origin, Source: "localhost/x:1"}
		if err := r.CheckBuilt(c.cached); !errors.Is(err, c.want) || (err != nil && !strings.Contains(err.Error(), "fix: pass the --cache")) {
			t.Errorf("%s cached=%v: %v, want %v", c.origin, c.cached, err, c.want)
		}
	}
}

// TestN9BuiltFrom: a rebuilt catalog says what upstream published
// (builtFrom) and is ocm's own (Built); a record from before the field
// (a catalog without it) still reads, as an upstream image; a builtFrom
// that is not a digest is refused where the record is read.
func TestN9BuiltFrom(t *testing.T) {
	const up = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	const rebuilt = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	for _, c := range []struct {
		line, err string
		built     bool
		from      string
	}{
		{`{"v":1,"origin":"operator-catalog","source":"q.io/c/index:v1","digest":"` + rebuilt + `","status":"planned","builtFrom":"` + up + `"}`, "", true, up},
		{`{"v":1,"origin":"operator-catalog","source":"q.io/c/index:v1","digest":"` + rebuilt + `","status":"planned"}`, "", false, ""},
		{`{"v":1,"origin":"operator-catalog","source":"q.io/c/index:v1","digest":"` + rebuilt + `","builtFrom":"sha256:zz","status":"planned"}`, "field builtFrom", false, ""},
	} {
		recs, err := ReadAll(strings.NewReader(c.line+"\n"), "stdin")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		r := recs[0]
		if r.Built() != c.built || r.BuiltFrom != c.from {
			t.Errorf("%s: Built %v builtFrom %q, want %v %q", c.line, r.Built(), r.BuiltFrom, c.built, c.from)
		}
		var out bytes.Buffer
		if err := json.NewEncoder(&out).Encode(r); err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out.String()) != c.line {
			t.Errorf("round trip:\n got %s\nwant %s", out.String(), c.line)
		}
	}
}

// TestN18RecordHoldsTheMostAttachments: a record with as many attachments
// as an image may carry, each as large as Check lets it be, is one line the
// next stage reads; one attachment more is refused naming the limit.
func TestN18RecordHoldsTheMostAttachments(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	mt := strings.Repeat("a", 127) + "/" + strings.Repeat("b", 127)
	big := Attachment{Kind: KindReferrersTag, Digest: d, MediaType: mt, ArtifactType: mt, Size: 1<<63 - 1, Tag: strings.Repeat("t", 128), Subject: d}
	if err := big.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    int
		want string
	}{
		{MaxAttachments, ""},
		{MaxAttachments + 1, fmt.Sprintf("lists %d, more than the %d", MaxAttachments+1, MaxAttachments)},
	} {
		r := &Record{Origin: OriginAdditional, Source: "quay.io/a/b:1", Digest: d, Status: StatusCached, Platforms: []string{"linux/amd64"}}
		for i := 0; i < tc.n; i++ {
			r.Attachments = append(r.Attachments, big)
		}
		var buf bytes.Buffer
		if err := NewWriter(&buf).Write(r); err != nil {
			t.Fatal(err)
		}
		got, err := NewReader(&buf, "stdin").Next()
		if tc.want == "" {
			if err != nil || len(got.Attachments) != tc.n {
				t.Errorf("%d attachments: %v", tc.n, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%d attachments: err %v, want %q", tc.n, err, tc.want)
		}
	}
}

// N8: a sharded run's shard field round-trips in its place, and one that
// cannot be a part of a plan is refused like any tampered field.
func TestN8ShardFieldValidated(t *testing.T) {
	const plan = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	line := func(shard string) string {
		return `{"v":1,"origin":"additional","source":"quay.io/a/b:1","status":"planned","shard":` + shard + `}`
	}
	good := line(`{"plan":"` + plan + `","index":1,"count":3,"record":4,"records":10}`)
	r, err := NewReader(strings.NewReader(good), "stdin").Next()
	if err != nil || r.Shard == nil || *r.Shard != (Part{Plan: plan, Index: 1, Count: 3, Record: 4, Records: 10}) {
		t.Fatalf("good shard field: %+v, %v", r, err)
	}
	if b, _ := r.MarshalJSON(); string(b) != good {
		t.Fatalf("round trip:\n%s\nwant\n%s", b, good)
	}
	for _, bad := range []string{
		`{"plan":"sha256:00","index":0,"count":3,"record":1,"records":10}`,
		`{"plan":"` + plan + `","index":3,"count":3,"record":1,"records":10}`,
		`{"plan":"` + plan + `","index":-1,"count":3,"record":1,"records":10}`,
		`{"plan":"` + plan + `","index":0,"count":0,"record":1,"records":10}`,
		`{"plan":"` + plan + `","index":0,"count":3,"record":0,"records":10}`,
		`{"plan":"` + plan + `","index":0,"count":3,"record":11,"records":10}`,
	} {
		_, err := NewReader(strings.NewReader(line(bad)), "stdin").Next()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "field shard") {
			t.Errorf("%s: got %v, want field shard refused", bad, err)
		}
	}
}
