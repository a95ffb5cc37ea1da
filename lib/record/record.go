// Package record defines the image record: the one line of JSON that every ocm
// command reads on stdin and writes on stdout. It is the project's contract
// between stages; docs/records.md describes it for users.
package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/manifest"

	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// Version is the schema version written in every record ("v").
// Readers accept records of this version and below.
const Version = 1

// Origin says why an image is in the image set.
type Origin string

const (
	OriginAdditional       Origin = "additional"
	OriginRelease          Origin = "release"
	OriginReleaseComponent Origin = "release-component"
	OriginCatalog          Origin = "operator-catalog"
	OriginBundle           Origin = "operator-bundle"
	OriginRelated          Origin = "operator-related"
	OriginGraph            Origin = "graph"
)

var origins = map[Origin]bool{
	OriginAdditional: true, OriginRelease: true, OriginReleaseComponent: true,
	OriginCatalog: true, OriginBundle: true, OriginRelated: true, OriginGraph: true,
}

// Status is where an image stands after the last stage that touched it.
type Status string

const (
	StatusPlanned Status = "planned"
	StatusCached  Status = "cached"
	StatusPushed  Status = "pushed"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped"
)

var statuses = map[Status]bool{
	StatusPlanned: true, StatusCached: true, StatusPushed: true, StatusFailed: true, StatusSkipped: true,
}

// Record is one image of the image set.
type Record struct {
	V      int    `json:"v"`
	Origin Origin `json:"origin"`
	// Source is the image as the configuration names it (tag and/or digest).
	Source string `json:"source"`
	// Digest is the resolved manifest (or index) digest: what is copied.
	Digest string `json:"digest,omitempty"`
	// Tag is the source tag, when the source named one.
	Tag string `json:"tag,omitempty"`
	// Destination is "repo/path:tag" relative to the mirror root.
	Destination string `json:"destination,omitempty"`
	MediaType   string `json:"mediaType,omitempty"`
	// Size is the manifest size in bytes (the descriptor size).
	Size int64 `json:"size,omitempty"`
	// Platforms lists "os/arch[/variant]" of an index's children: all of
	// them, or with Sparse the ones copied.
	Platforms []string `json:"platforms,omitempty"`
	// Sparse: only the Platforms entries of the index (and their blobs) are
	// copied; the index itself is copied unchanged, so its other entries are
	// absent from the cache, the archives and the mirror.
	Sparse bool `json:"sparse,omitempty"`

	Catalog string `json:"catalog,omitempty"`
	Package string `json:"package,omitempty"`
	Bundle  string `json:"bundle,omitempty"`
	Release string `json:"release,omitempty"`

	Status Status `json:"status"`
	Error  string `json:"error,omitempty"`
	// Stage names the command that set Status last (plan, fetch, push...).
	Stage string `json:"stage,omitempty"`
	// Target is the full pushed reference "host/prefix/repo:tag" (set by push).
	Target string `json:"target,omitempty"`
	// PulledFrom names the registry the bytes came from when it was not the
	// source's own (registries.conf mirrors).
	PulledFrom string `json:"pulledFrom,omitempty"`
	// Attachments are the signatures, attestations, SBOMs and OCI referrers
	// found attached to the image (or one of its platforms) and copied with it.
	Attachments []Attachment `json:"attachments,omitempty"`
	// Signatures are a release payload's verified signatures (set by plan),
	// each a blob of the cache: ConfigMap keys sha256-<hex>-1, -2, ... follow
	// this order.
	Signatures []Blob `json:"signatures,omitempty"`
	// BuiltFrom is the digest of the upstream image ocm built this record's
	// image from (a filtered catalog: the catalog as published). Set, the
	// image at Digest is ocm's own build (Built), found only in a cache;
	// --secure-policy judged BuiltFrom, what upstream published.
	BuiltFrom string `json:"builtFrom,omitempty"`
	// Shard is set by a sharded fetch or push (--shard): the part that
	// handled the record, and the record's place in the plan, so that the
	// parts' outputs can be checked to cover the plan exactly once.
	Shard *Part `json:"shard,omitempty"`

	// extra keeps fields this version does not know, so that a stage passes on
	// what a later (newer) stage needs.
	extra map[string]json.RawMessage
}

// knownFields are the JSON names above; anything else goes to extra.
var knownFields = map[string]bool{
	"v": true, "origin": true, "source": true, "digest": true, "tag": true, "destination": true,
	"mediaType": true, "size": true, "platforms": true, "sparse": true, "catalog": true, "package": true,
	"bundle": true, "release": true, "status": true, "error": true, "stage": true, "target": true,
	"pulledFrom": true, "attachments": true, "signatures": true, "builtFrom": true,
	"shard": true,
}

// Attachment kinds.
const (
	KindSignature   = "signature"   // cosign tag scheme sha256-<hex>.sig
	KindAttestation = "attestation" // cosign tag scheme sha256-<hex>.att
	KindSBOM        = "sbom"        // cosign tag scheme sha256-<hex>.sbom
	KindReferrer    = "referrer"    // an OCI 1.1 referrer (subject = the image)
	// KindReferrersTag is the referrers tag schema's index (tag sha256-<hex>)
	// that registries without the referrers API serve instead.
	KindReferrersTag = "referrers-tag"
)

// Attachment is one manifest attached to an image, copied by digest to the
// image's destination repository (and named Tag there when set).
type Attachment struct {
	Kind      string `json:"kind"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType,omitempty"`
	// ArtifactType is the referrer's artifactType (OCI referrers only).
	ArtifactType string `json:"artifactType,omitempty"`
	Size         int64  `json:"size,omitempty"`
	// Tag names the attachment in the repository (tag schemes only).
	Tag string `json:"tag,omitempty"`
	// Subject is the manifest it is attached to: the image digest or one
	// of its platforms' manifests.
	Subject string `json:"subject"`
}

// Part names the part of a sharded run that handled a record: part Index of
// Count, and the record's place (1-based Record of Records) in the plan whose
// records hash to Plan.
type Part struct {
	Plan    string `json:"plan"`
	Index   int    `json:"index"`
	Count   int    `json:"count"`
	Record  int    `json:"record"`
	Records int    `json:"records"`
}

// Blob names content by digest and size.
type Blob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

type plain Record // no methods: avoids recursion in (Un)MarshalJSON

// UnmarshalJSON decodes a record and keeps unknown fields.
func (r *Record) UnmarshalJSON(b []byte) error {
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*r = Record(p)
	for k, v := range all {
		if !knownFields[k] {
			if r.extra == nil {
				r.extra = map[string]json.RawMessage{}
			}
			r.extra[k] = v
		}
	}
	return nil
}

// MarshalJSON encodes the known fields in a fixed order, then unknown ones sorted by name.
func (r Record) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(plain(r))
	if err != nil || len(r.extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(r.extra))
	for k := range r.extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1]) // drop '}'
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(r.extra[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Extra returns an unknown field's raw JSON, if the record carried one.
func (r *Record) Extra(name string) (json.RawMessage, bool) {
	v, ok := r.extra[name]
	return v, ok
}

// SetExtra stores a field outside the schema (for experiments); known names are refused.
func (r *Record) SetExtra(name string, v any) error {
	if knownFields[name] {
		return fmt.Errorf("field %q is part of the record schema", name)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if r.extra == nil {
		r.extra = map[string]json.RawMessage{}
	}
	r.extra[name] = b
	return nil
}

// ErrInvalid is wrapped by every Validate error: the record is not one an
// ocm command wrote (hand-edited or tampered), so nothing is done with it.
var ErrInvalid = errors.New("invalid image record")

// invalid is a Validate error: text for people, ErrInvalid for callers.
type invalid struct{ msg string }

func (e *invalid) Error() string        { return e.msg }
func (e *invalid) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalid{msg: fmt.Sprintf(format, args...)}
}

// Validate checks what every stage relies on. Fields that end up in
// registry URLs (digest, source, destination, target) must be well formed
// before any stage builds a URL from them, and no field may hold a control
// character: a newline in a record would forge lines in logs.
func (r *Record) Validate() error {
	switch {
	case r.V < 1 || r.V > Version:
		return invalidf("schema version %d not supported (this ocm reads 1 to %d); fix: use an ocm of the same release for every stage", r.V, Version)
	case !origins[r.Origin]:
		return invalidf("unknown origin %q", r.Origin)
	case r.Source == "":
		return invalidf("missing source")
	case !statuses[r.Status]:
		return invalidf("unknown status %q", r.Status)
	case r.Status == StatusFailed && r.Error == "":
		return invalidf("status failed without an error text")
	}
	for _, f := range r.textFields() {
		if i := controlIndex(f.v); i >= 0 {
			c, _ := utf8.DecodeRuneInString(f.v[i:])
			return invalidf("field %s holds control character %q at byte %d; fix: records are written by ocm commands, do not edit them", f.name, c, i)
		}
	}
	if r.Digest != "" && !verify.ValidDigest(r.Digest) {
		return invalidf("field digest %q is not sha256:<64 lowercase hex>", r.Digest)
	}
	if r.BuiltFrom != "" && !verify.ValidDigest(r.BuiltFrom) {
		return invalidf("field builtFrom %q is not sha256:<64 lowercase hex>", r.BuiltFrom)
	}
	// A record an earlier stage gave up on passes through untouched, and may
	// name a source ocm could not parse (that is why it failed).
	if !r.Done() {
		if refs.IsOCI(r.Source) {
			// Only a catalog may come from a local layout (mirror.operators[].catalog).
			if r.Origin != OriginCatalog {
				return invalidf("field source %q: only an operator catalog may come from an oci:// layout", r.Source)
			}
			if _, err := refs.OCIDir(r.Source); err != nil {
				return invalidf("field source: %v", err)
			}
		} else if _, _, _, _, err := refs.Split(r.Source); err != nil {
			return invalidf("field source: %v", err)
		}
	}
	if r.Tag != "" {
		if _, err := name.NewTag("example.com/x:"+r.Tag, name.StrictValidation); err != nil {
			return invalidf("field tag %q is not a valid tag", r.Tag)
		}
	}
	if r.Destination != "" {
		if _, _, err := refs.SplitDestination(r.Destination); err != nil {
			return invalidf("field destination: %v", err)
		}
	}
	if r.Target != "" {
		if err := refs.CheckTarget(r.Target); err != nil {
			return invalidf("field target: %v", err)
		}
	}
	for i, b := range r.Signatures {
		if !verify.ValidDigest(b.Digest) || b.Size <= 0 {
			return fmt.Errorf("signatures[%d]: want {\"digest\":\"sha256:<64 hex>\",\"size\":>0}, got digest %q size %d", i, b.Digest, b.Size)
		}
	}
	if p := r.Shard; p != nil && (!verify.ValidDigest(p.Plan) || p.Count < 1 || p.Index < 0 || p.Index >= p.Count || p.Records < 1 || p.Record < 1 || p.Record > p.Records) {
		return invalidf("field shard %+v: want plan sha256:<64 hex>, 0 <= index < count, 1 <= record <= records; fix: records are written by ocm commands, do not edit them", *p)
	}
	// Attachments' digests and tags go into registry URLs like the image's.
	if len(r.Attachments) > MaxAttachments {
		return invalidf("field attachments lists %d, more than the %d a record may carry", len(r.Attachments), MaxAttachments)
	}
	for i, a := range r.Attachments {
		if err := a.Check(); err != nil {
			return invalidf("field attachments[%d]%v; fix: records are written by ocm commands, do not edit them", i, err)
		}
	}
	return nil
}

// Attachments per image: DefaultAttachments unless --max-attachments says
// otherwise, never more than MaxAttachments. A record line is bounded to
// hold MaxAttachments of at most attachmentBytes each.
const (
	DefaultAttachments = 1000
	MaxAttachments     = 10000
	// attachmentBytes bounds one attachment's JSON: two digests, a tag of
	// at most 128 bytes, two media types of at most 255 bytes (Check),
	// the kind, the size and the keys.
	attachmentBytes = 1024
)

// Check is what an attachment must be to be recorded: its digests and tag
// go into registry URLs, and its media types are RFC 6838 names (at most
// 255 bytes, nothing JSON escapes), so that a record's size is bounded by
// its number of attachments. The error starts with the field's name.
func (a Attachment) Check() error {
	switch {
	case !attachmentKinds[a.Kind]:
		return fmt.Errorf(".kind %q is not signature, attestation, sbom, referrer or referrers-tag", a.Kind)
	case !verify.ValidDigest(a.Digest):
		return fmt.Errorf(".digest %q is not sha256:<64 lowercase hex>", a.Digest)
	case !verify.ValidDigest(a.Subject):
		return fmt.Errorf(".subject %q is not sha256:<64 lowercase hex>", a.Subject)
	case a.Tag != "":
		if _, err := name.NewTag("example.com/x:"+a.Tag, name.StrictValidation); err != nil {
			return fmt.Errorf(".tag %q is not a valid tag", a.Tag)
		}
	}
	for _, f := range []struct{ name, v string }{{"mediaType", a.MediaType}, {"artifactType", a.ArtifactType}} {
		if f.v != "" && !mediaTypeName.MatchString(f.v) {
			return fmt.Errorf(".%s %.80q is not a media type (type/subtype, RFC 6838, at most 255 bytes)", f.name, f.v)
		}
	}
	return nil
}

// mediaTypeName is RFC 6838's type-name "/" subtype-name (4.2); the OCI
// specs ask descriptors' mediaType and artifactType to follow it.
var mediaTypeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)

var attachmentKinds = map[string]bool{KindSignature: true, KindAttestation: true, KindSBOM: true, KindReferrer: true, KindReferrersTag: true}

type textField struct{ name, v string }

func (r *Record) textFields() []textField {
	fs := []textField{
		{"source", r.Source}, {"digest", r.Digest}, {"tag", r.Tag}, {"destination", r.Destination},
		{"mediaType", r.MediaType}, {"catalog", r.Catalog}, {"package", r.Package}, {"bundle", r.Bundle},
		{"release", r.Release}, {"error", r.Error}, {"stage", r.Stage}, {"target", r.Target}, {"pulledFrom", r.PulledFrom},
	}
	for i, p := range r.Platforms {
		fs = append(fs, textField{fmt.Sprintf("platforms[%d]", i), p})
	}
	return fs
}

// controlIndex is the byte offset of the first control character in s
// (C0, DEL or C1), or -1.
func controlIndex(s string) int {
	for i, c := range s {
		if isControl(c) {
			return i
		}
	}
	return -1
}

func isControl(c rune) bool { return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) }

// OneLine replaces control characters in s by a space (runs of them by one),
// so that a text from outside (a registry's error message) stays one line
// in a record, a log or the error log.
func OneLine(s string) string {
	if controlIndex(s) < 0 {
		return s
	}
	var b strings.Builder
	prev := false
	for _, c := range s {
		if isControl(c) {
			if !prev {
				b.WriteByte(' ')
			}
			prev = true
			continue
		}
		prev = false
		b.WriteRune(c)
	}
	return strings.TrimSpace(b.String())
}

// ErrMediaType is wrapped by CheckMediaType's error.
var ErrMediaType = errors.New("record's mediaType disagrees with the manifest")

// CheckMediaType compares the record's mediaType with got, the type the
// manifest body showed when it was copied ("" when not copied again).
func (r *Record) CheckMediaType(got string) error {
	if r.MediaType == "" || got == "" || r.MediaType == got {
		return nil
	}
	return fmt.Errorf("the record says mediaType %s but manifest %s is %s; fix: plan again (records are not to be edited): %w", r.MediaType, r.Digest, got, ErrMediaType)
}

// Failed reports whether an earlier stage gave up on this image (or it was skipped).
// Stages pass such records through untouched.
func (r *Record) Done() bool { return r.Status == StatusFailed || r.Status == StatusSkipped }

// Fail marks the record failed by stage with err.
func (r *Record) Fail(stage string, err error) {
	r.Status = StatusFailed
	r.Stage = stage
	r.Error = OneLine(err.Error())
}

// Name is a short human name for summaries: the source, plus the operator bundle if any.
func (r *Record) Name() string {
	if r.Bundle != "" {
		return fmt.Sprintf("%s (%s/%s)", r.Source, r.Package, r.Bundle)
	}
	return r.Source
}

// Selection is what a copy of the record's index keeps: its Platforms when
// Sparse, else every entry (nil).
func (r *Record) Selection() manifest.Selection {
	if !r.Sparse {
		return nil
	}
	return manifest.Select(r.Platforms)
}
