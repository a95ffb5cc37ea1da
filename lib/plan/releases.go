package plan

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/cincinnati"
	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/imagefs"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/refs"
	"github.com/ocm-mirror/ocm/lib/registry"
	"github.com/ocm-mirror/ocm/lib/release"
	"github.com/ocm-mirror/ocm/lib/releasesig"
	"github.com/ocm-mirror/ocm/lib/verify"
	"github.com/ocm-mirror/ocm/lib/workpool"
)

// Where releases land under the mirror root (the reference tool's layout).
const (
	ReleaseImagesRepo = "openshift/release-images"
	ReleaseRepo       = "openshift/release"
)

// Releases plans mirror.platform: the payload of every selected release for
// every architecture, and every component image of each payload. Any release
// problem is an error: releases are all-or-nothing.
func (p *Planner) Releases(ctx context.Context, pl *config.Platform) ([]*record.Record, error) {
	p.kubeVirt = pl != nil && pl.KubeVirtContainer
	p.payloadPlatforms = nil
	if pl != nil && !p.NoSparse {
		p.payloadPlatforms = pl.Platforms
	}
	if pl != nil && pl.Release != "" {
		return p.namedRelease(ctx, pl.Release)
	}
	if pl == nil || len(pl.Channels) == 0 {
		return nil, nil
	}
	archs := pl.Architectures
	if len(archs) == 0 {
		archs = []string{"amd64"}
	}
	cc := p.Cincinnati
	if cc == nil {
		cc = &cincinnati.Client{HTTP: p.httpClient()}
	}
	var recs []*record.Record
	for _, arch := range archs {
		garch := cincinnati.GraphArch(arch)
		graphs := map[string]*cincinnati.Graph{}
		var specs []cincinnati.ChannelSpec
		for _, ch := range pl.Channels {
			if _, ok := graphs[ch.Name]; !ok {
				g, err := cc.Fetch(ctx, ch.Type, ch.Name, garch)
				if err != nil {
					return nil, err
				}
				graphs[ch.Name] = g
			}
			specs = append(specs, cincinnati.ChannelSpec{Name: ch.Name, MinVersion: ch.MinVersion, MaxVersion: ch.MaxVersion, Full: ch.Full, ShortestPath: ch.ShortestPath})
		}
		sel, err := cincinnati.Select(graphs, specs)
		if err != nil {
			return nil, fmt.Errorf("architecture %s: %w", arch, err)
		}
		p.Log.Infof("releases for %s: %d selected", arch, len(sel))
		rs, err := p.releaseRecords(ctx, sel, cincinnati.PayloadArch(garch))
		if err != nil {
			return nil, err
		}
		recs = append(recs, rs...)
	}
	return recs, nil
}

// releaseRecords reads each payload and plans it with its components. At
// most p.Workers requests are in flight at once: first the payloads are read
// and their signatures verified, a worker each, then the components of them
// all are described by the same workers.
func (p *Planner) releaseRecords(ctx context.Context, sel []cincinnati.Selected, parch string) ([]*record.Record, error) {
	workers := max(p.Workers, 1)
	rels := make([]*plannedRelease, len(sel))
	err := workpool.Run(ctx, len(sel), workers, func(ctx context.Context, i int) error {
		var err error
		rels[i], err = p.readRelease(ctx, sel[i], parch)
		return err
	})
	if err != nil {
		return nil, err
	}
	type component struct {
		rel *plannedRelease
		i   int
	}
	var comps []component
	for _, r := range rels {
		for i := range r.comps {
			comps = append(comps, component{r, i})
		}
	}
	err = workpool.Run(ctx, len(comps), workers, func(ctx context.Context, i int) error {
		r, c := comps[i].rel, comps[i].i
		if err := p.describe(ctx, r.comps[c]); err != nil {
			return fmt.Errorf("release %s: component %s (%s): %w", r.version, r.names[c], r.comps[c].Source, err)
		}
		if err := p.sparsePayload(r.comps[c]); err != nil {
			return fmt.Errorf("release %s: component %s (%s): %w", r.version, r.names[c], r.comps[c].Source, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var recs []*record.Record
	for _, r := range rels {
		comps := append([]*record.Record(nil), r.comps...)
		sort.SliceStable(comps, func(i, j int) bool { return comps[i].Destination < comps[j].Destination })
		recs = append(append(recs, r.payload), comps...)
	}
	return recs, nil
}

// plannedRelease is a release whose payload is described and signed, and
// whose component records are still to be described.
type plannedRelease struct {
	version string
	payload *record.Record
	comps   []*record.Record
	names   []string // component names, as comps
}

// namedRelease plans mirror.platform.release: the one payload ref names
// (by tag or digest), with its components and signatures. Its version comes
// from the payload; its architecture from the image (multi for an index).
func (p *Planner) namedRelease(ctx context.Context, ref string) ([]*record.Record, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("mirror.platform.release %q: %w", ref, err)
	}
	repo, err := p.Client.Repository(r.Context().Name())
	if err != nil {
		return nil, err
	}
	want := r.Identifier()
	if d, ok := refs.DigestOf(ref); ok {
		want = d
	}
	body, mt, digest, err := p.Client.Manifest(ctx, repo, want)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w; fix: check mirror.platform.release", ref, err)
	}
	src := &registry.Repo{Client: p.Client, Name: repo}
	pay, err := release.Read(ctx, src, digest, ref)
	if err != nil {
		return nil, err
	}
	parch := "multi"
	if _, mt, err := manifest.Parse(body, mt); err != nil {
		return nil, fmt.Errorf("release %s: %w", ref, err)
	} else if !manifest.IsIndex(mt) {
		img, err := imagefs.Resolve(ctx, src, digest, "")
		if err != nil {
			return nil, fmt.Errorf("release %s: %w", ref, err)
		}
		parch = cincinnati.PayloadArch(img.Config.Architecture)
	}
	p.Log.Infof("release %s: version %s, %s", ref, pay.Version, parch)
	recs, err := p.releaseRecords(ctx, []cincinnati.Selected{{Node: cincinnati.Node{Version: pay.Version, Payload: r.Context().Name() + "@" + digest}}}, parch)
	if err != nil {
		return nil, err
	}
	if tag := refs.TagOf(ref); tag != "" {
		recs[0].Tag = tag
	}
	return recs, nil
}

// readRelease reads the payload of s, describes and signs it, and names its
// components.
func (p *Planner) readRelease(ctx context.Context, s cincinnati.Selected, parch string) (*plannedRelease, error) {
	ref, err := name.NewDigest(s.Payload)
	if err != nil {
		return nil, fmt.Errorf("release %s: payload %q is not a digest reference: %v", s.Version, s.Payload, err)
	}
	repo, err := p.Client.Repository(ref.Context().Name())
	if err != nil {
		return nil, err
	}
	src := &registry.Repo{Client: p.Client, Name: repo}
	pay, err := release.Read(ctx, src, ref.DigestStr(), s.Payload)
	if err != nil {
		return nil, err
	}
	// The version comes from the update graph, which is not signed: a
	// hostile graph could name the 4.15.3 payload 4.16.9, and the mirror
	// would then serve it under that tag. The payload's own metadata is
	// pinned by its digest, so it decides.
	if pay.Version != s.Version {
		return nil, fmt.Errorf("release %s (%s): the update graph names this payload %s, but the payload is release %q (%s); fix: check the update graph (%s or the update service), which relabels releases",
			s.Version, ref.DigestStr(), s.Version, pay.Version, release.Metadata, cincinnati.OverrideEnv)
	}
	if p.kubeVirt {
		kv, err := kubeVirtComponents(pay, parch)
		if err != nil {
			return nil, fmt.Errorf("release %s (%s): %w", s.Version, ref.DigestStr(), err)
		}
		pay.Components = append(pay.Components, kv...)
	}
	tag := s.Version + "-" + parch
	payRec := &record.Record{V: record.Version, Origin: record.OriginRelease, Source: s.Payload, Digest: ref.DigestStr(),
		Destination: ReleaseImagesRepo + ":" + tag, Release: s.Version, Status: record.StatusPlanned, Stage: "plan"}
	if err := p.describe(ctx, payRec); err != nil {
		return nil, fmt.Errorf("release %s: %w", s.Version, err)
	}
	if err := p.sparsePayload(payRec); err != nil {
		return nil, fmt.Errorf("release %s: %w", s.Version, err)
	}
	if err := p.sign(ctx, payRec); err != nil {
		return nil, err
	}
	rel := &plannedRelease{version: s.Version, payload: payRec}
	for _, c := range pay.Components {
		d, _ := name.NewDigest(c.Image)
		rel.comps = append(rel.comps, &record.Record{V: record.Version, Origin: record.OriginReleaseComponent, Source: c.Image, Digest: d.DigestStr(),
			Destination: ReleaseRepo + ":" + tag + "-" + c.Name, Release: s.Version, Status: record.StatusPlanned, Stage: "plan"})
		rel.names = append(rel.names, c.Name)
	}
	return rel, nil
}

// sign fetches and verifies the payload's signatures and names them in
// its record. A release without a valid signature is a release error.
func (p *Planner) sign(ctx context.Context, r *record.Record) error {
	if p.Signatures == nil {
		if p.IgnoreSignatures {
			p.Log.Warnf("release %s (%s): signature NOT verified and not mirrored (--ignore-release-signature); a cluster that verifies releases will refuse this one", r.Release, r.Digest)
		}
		return nil
	}
	sigs, err := p.Signatures.Signatures(ctx, r.Digest)
	if err != nil {
		return fmt.Errorf("release %s (%s): %w; fix: check %s and %s, or pass --ignore-release-signature for payloads that are not signed (custom or nightly builds)",
			r.Release, r.Digest, err, releasesig.StoreEnv, releasesig.KeysEnv)
	}
	for _, v := range sigs {
		if tag, ok := v.Claim.NamesVersion(r.Release); !ok {
			return fmt.Errorf("release %s (%s): its signature names %s (tag %s), another release; fix: check what named this release (the update graph, %s, or mirror.platform.release) and %s",
				r.Release, r.Digest, v.Claim.Critical.Identity.DockerReference, tag, cincinnati.OverrideEnv, releasesig.StoreEnv)
		}
	}
	for _, v := range sigs {
		b := v.Data
		d := verify.Digest(b)
		if p.Cache != nil {
			if _, err := p.Cache.PutBytes(ctx, b); err != nil {
				return fmt.Errorf("release %s: caching its signature: %w", r.Release, err)
			}
		}
		r.Signatures = append(r.Signatures, record.Blob{Digest: d, Size: int64(len(b))})
	}
	p.Log.Debugf("release %s (%s): %d signatures verified", r.Release, r.Digest, len(sigs))
	return nil
}

// kubeVirtArchs are the boot image stream architectures of a payload
// architecture that ship a KubeVirt container (x86_64 and s390x do; multi
// takes every one the payload names), as the reference tool maps them.
var kubeVirtArchs = map[string][]string{"x86_64": {"x86_64"}, "s390x": {"s390x"}}

// kubeVirtComponents are the KubeVirt container images of pay for parch,
// named as the reference tool names them: kube-virt-container, with the
// architecture appended when there are several.
func kubeVirtComponents(pay *release.Payload, parch string) ([]release.Component, error) {
	archs := kubeVirtArchs[parch]
	if parch == "multi" {
		archs = nil
		for a := range pay.KubeVirt {
			archs = append(archs, a)
		}
		sort.Strings(archs)
	}
	var found []string
	for _, a := range archs {
		if pay.KubeVirt[a] != "" {
			found = append(found, a)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("kubeVirtContainer: %s names no KubeVirt container image for %s; fix: drop kubeVirtContainer, or mirror an architecture that has one (x86_64, s390x)", release.BootImages, parch)
	}
	var out []release.Component
	for _, a := range found {
		c := release.Component{Name: "kube-virt-container", Image: pay.KubeVirt[a]}
		if len(found) > 1 {
			c.Name += "-" + a
		}
		out = append(out, c)
	}
	return out, nil
}

// sparsePayload plans a release record sparse when mirror.platform.platforms
// chose platforms (the multi payload and its components, as oc-mirror 4.23).
func (p *Planner) sparsePayload(r *record.Record) error {
	if len(p.payloadPlatforms) == 0 {
		return nil
	}
	return sparse(r, p.payloadPlatforms)
}

type description struct {
	mt        string
	size      int64
	platforms []string
}

// describe fills media type, size and platforms of a record known by digest
// (remembered: releases share most components).
func (p *Planner) describe(ctx context.Context, r *record.Record) error {
	if v, ok := p.described.Load(r.Digest); ok {
		d := v.(description)
		r.MediaType, r.Size, r.Platforms = d.mt, d.size, d.platforms
		return nil
	}
	ref, err := name.ParseReference(r.Source)
	if err != nil {
		return err
	}
	repo, err := p.Client.Repository(ref.Context().Name())
	if err != nil {
		return err
	}
	body, mt, _, err := p.Client.Manifest(ctx, repo, r.Digest)
	if err != nil {
		return err
	}
	m, mt, err := manifest.Parse(body, mt)
	if err != nil {
		return err
	}
	r.MediaType, r.Size, r.Platforms = mt, int64(len(body)), m.Platforms()
	p.described.Store(r.Digest, description{r.MediaType, r.Size, r.Platforms})
	return nil
}
