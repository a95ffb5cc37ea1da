package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/ocm-mirror/ocm/lib/suggest"
)

// Filter is what mirror.operators[] asks of one catalog.
type Filter struct {
	Full     bool
	Packages []PackageFilter
	// EveryChannel applies oc-mirror 4.18+'s rule where no channels are
	// named: every channel of the package (its head, or the package range
	// within it) instead of the default channel alone.
	EveryChannel bool
}

// PackageFilter is one packages[] entry.
type PackageFilter struct {
	Name       string
	MinVersion string
	MaxVersion string
	Channels   []ChannelFilter
	Bundles    []string
	// DefaultChannel replaces the package's default channel in the
	// rebuilt catalog (oc-mirror's packages[].defaultChannel).
	DefaultChannel string
}

// ChannelFilter is one channels[] entry.
type ChannelFilter struct {
	Name       string
	MinVersion string
	MaxVersion string
}

// Selection is what a filter keeps: per package, per channel, bundle names.
type Selection struct {
	Packages map[string]*PackageSelection
	// LeftOut names, per package, the channels the default-channel rule
	// left out (none with EveryChannel): callers tell the user.
	LeftOut map[string][]string
}

// PackageSelection of one package.
type PackageSelection struct {
	Channels map[string][]string // channel -> kept bundle names (sorted by version)
	Bundles  map[string]bool     // every kept bundle
	// Default is the default channel asked for (packages[].defaultChannel);
	// "" keeps the catalog's, or the newest kept channel when that is gone.
	Default string
}

// Select applies f to the catalog (the reference's table of scenarios):
// a catalog alone keeps each package's default-channel head; full keeps
// everything; package-level versions act on the default channel; channel
// filters act on their channel; bundles keep exactly those bundles.
// With f.EveryChannel, what the table applies to the default channel is
// applied to each channel instead.
func (cat *FBC) Select(f Filter) (*Selection, error) {
	s := &Selection{Packages: map[string]*PackageSelection{}, LeftOut: map[string][]string{}}
	if len(f.Packages) == 0 {
		for _, name := range cat.SortedPackages() {
			p := cat.Packages[name]
			if f.Full {
				for cn := range p.Channels {
					if err := s.keepRange(p, cn, nil, nil); err != nil {
						return nil, err
					}
				}
				continue
			}
			if err := s.defaultRule(p, nil, nil, f.EveryChannel); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	for _, pf := range f.Packages {
		p := cat.Packages[pf.Name]
		if p == nil {
			return nil, fmt.Errorf("package %s is not in the catalog; %s", pf.Name, suggestNames(pf.Name, append(cat.SortedPackages(), keys(cat.skipped)...)))
		}
		if err := s.selectPackage(p, pf, f.Full, f.EveryChannel); err != nil {
			return nil, fmt.Errorf("package %s: %w", pf.Name, err)
		}
		if ps := s.Packages[pf.Name]; ps != nil && pf.DefaultChannel != "" {
			if _, kept := ps.Channels[pf.DefaultChannel]; kept {
				ps.Default = pf.DefaultChannel
			}
		}
	}
	return s, nil
}

func (s *Selection) selectPackage(p *Package, pf PackageFilter, full, every bool) error {
	hasPkgRange := pf.MinVersion != "" || pf.MaxVersion != ""
	switch {
	case len(pf.Channels) > 0 && len(pf.Bundles) > 0:
		return fmt.Errorf("channels and bundles cannot be combined; fix: list either channels or bundles")
	case full && hasPkgRange:
		return fmt.Errorf("full: true cannot be combined with minVersion/maxVersion; fix: drop one")
	case len(pf.Bundles) > 0 && hasPkgRange:
		return fmt.Errorf("bundles cannot be combined with minVersion/maxVersion; fix: drop one")
	}
	if len(pf.Bundles) > 0 {
		for _, b := range pf.Bundles {
			if p.Bundles[b] == nil {
				return fmt.Errorf("bundle %s is not in the package; %s", b, suggestNames(b, keys(p.Bundles)))
			}
			// A bundle is kept in every channel that lists it.
			found := false
			for _, cn := range sortedChannels(p) {
				for _, e := range p.Channels[cn].Entries {
					if e.Name == b {
						s.keep(p.Name, cn, b)
						found = true
					}
				}
			}
			if !found {
				return fmt.Errorf("bundle %s is in no channel", b)
			}
		}
		return nil
	}
	if len(pf.Channels) > 0 {
		for _, cf := range pf.Channels {
			if hasPkgRange && cf.MinVersion == "" && cf.MaxVersion == "" {
				// oc-mirror: a package range applies to each named channel.
				cf.MinVersion, cf.MaxVersion = pf.MinVersion, pf.MaxVersion
			} else if hasPkgRange {
				return fmt.Errorf("package-level minVersion/maxVersion cannot be combined with channel minVersion/maxVersion; fix: keep one")
			}
			if p.Channels[cf.Name] == nil {
				return fmt.Errorf("channel %s is not in the package; %s", cf.Name, suggestNames(cf.Name, keys(p.Channels)))
			}
			if full && (cf.MinVersion != "" || cf.MaxVersion != "") {
				return fmt.Errorf("full: true cannot be combined with channel minVersion/maxVersion; fix: drop one")
			}
			min, max, err := versions(cf.MinVersion, cf.MaxVersion)
			if err != nil {
				return fmt.Errorf("channel %s: %w", cf.Name, err)
			}
			switch {
			case full:
				err = s.keepRange(p, cf.Name, nil, nil)
			case min == nil && max == nil:
				err = s.keepHead(p, cf.Name)
			default:
				err = s.keepRange(p, cf.Name, min, max)
			}
			if err != nil {
				return err
			}
		}
		if err := checkDefault(p, pf); err != nil {
			return err
		}
		return nil
	}
	if pf.DefaultChannel != "" {
		if p.Channels[pf.DefaultChannel] == nil {
			return fmt.Errorf("defaultChannel %s is not in the package; %s", pf.DefaultChannel, suggestNames(pf.DefaultChannel, keys(p.Channels)))
		}
		if len(pf.Bundles) == 0 && !full && !every {
			// Without channels the default channel is the one filtered.
			p = withDefault(p, pf.DefaultChannel)
		}
	}
	if full {
		for _, cn := range sortedChannels(p) {
			if err := s.keepRange(p, cn, nil, nil); err != nil {
				return err
			}
		}
		return nil
	}
	min, max, err := versions(pf.MinVersion, pf.MaxVersion)
	if err != nil {
		return err
	}
	return s.defaultRule(p, min, max, every)
}

// defaultRule selects from a package no channel is named for: the head of
// the default channel, or the range within it (the reference's table); with
// every, the same of each channel (oc-mirror 4.18+), dropping channels with
// no bundle in the range, so long as one channel keeps some.
func (s *Selection) defaultRule(p *Package, min, max *semver.Version, every bool) error {
	if !every {
		if p.Channels[p.DefaultChannel] == nil {
			return fmt.Errorf("default channel %q is not in the package", p.DefaultChannel)
		}
		for _, cn := range sortedChannels(p) {
			if cn != p.DefaultChannel {
				s.LeftOut[p.Name] = append(s.LeftOut[p.Name], cn)
			}
		}
		if min == nil && max == nil {
			return s.keepHead(p, p.DefaultChannel)
		}
		return s.keepRange(p, p.DefaultChannel, min, max)
	}
	if min == nil && max == nil {
		for _, cn := range sortedChannels(p) {
			if err := s.keepHead(p, cn); err != nil {
				return err
			}
		}
		return nil
	}
	var spans []string
	for _, cn := range sortedChannels(p) {
		if s.keepRange(p, cn, min, max) != nil {
			spans = append(spans, cn+" has "+versionSpan(p, p.Channels[cn]))
		}
	}
	if len(spans) == len(p.Channels) {
		return fmt.Errorf("no channel has a bundle between %v and %v (%s)", orAny(min), orAny(max), strings.Join(spans, "; "))
	}
	return nil
}

func versions(minS, maxS string) (min, max *semver.Version, err error) {
	if minS != "" {
		if min, err = semver.NewVersion(minS); err != nil {
			return nil, nil, fmt.Errorf("minVersion %q: %v", minS, err)
		}
	}
	if maxS != "" {
		if max, err = semver.NewVersion(maxS); err != nil {
			return nil, nil, fmt.Errorf("maxVersion %q: %v", maxS, err)
		}
	}
	if min != nil && max != nil && max.LessThan(min) {
		return nil, nil, fmt.Errorf("minVersion %s is above maxVersion %s", min, max)
	}
	return min, max, nil
}

func (s *Selection) keep(pkg, ch, bundle string) {
	ps := s.Packages[pkg]
	if ps == nil {
		ps = &PackageSelection{Channels: map[string][]string{}, Bundles: map[string]bool{}}
		s.Packages[pkg] = ps
	}
	for _, b := range ps.Channels[ch] {
		if b == bundle {
			return
		}
	}
	ps.Channels[ch] = append(ps.Channels[ch], bundle)
	ps.Bundles[bundle] = true
}

func (s *Selection) keepHead(p *Package, ch string) error {
	c := p.Channels[ch]
	if c == nil {
		return fmt.Errorf("package %s: channel %q is not in the package", p.Name, ch)
	}
	h, err := c.Head()
	if err != nil {
		return fmt.Errorf("package %s: %w", p.Name, err)
	}
	s.keep(p.Name, ch, h)
	return nil
}

// keepRange keeps the channel's bundles within [min, max] (nil: open).
func (s *Selection) keepRange(p *Package, ch string, min, max *semver.Version) error {
	c := p.Channels[ch]
	n := 0
	for _, e := range c.Entries {
		v := p.Bundles[e.Name].Version
		if (min == nil || !v.LessThan(min)) && (max == nil || !v.GreaterThan(max)) {
			s.keep(p.Name, ch, e.Name)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("channel %s has no bundle between %v and %v (it has %s)", ch, orAny(min), orAny(max), versionSpan(p, c))
	}
	return nil
}

func orAny(v *semver.Version) string {
	if v == nil {
		return "any"
	}
	return v.Original()
}

func versionSpan(p *Package, c *Channel) string {
	var vs []*semver.Version
	for _, e := range c.Entries {
		vs = append(vs, p.Bundles[e.Name].Version)
	}
	sort.Sort(semver.Collection(vs))
	if len(vs) == 0 {
		return "no bundles"
	}
	return vs[0].Original() + " to " + vs[len(vs)-1].Original()
}

func sortedChannels(p *Package) []string { return keys(p.Channels) }

func keys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggestNames names the closest known names first.
func suggestNames(name string, known []string) string {
	if len(known) == 0 {
		return "there are none"
	}
	sorted := suggest.Closest(name, known)
	if len(sorted) > 5 {
		sorted = append(sorted[:5], "...")
	}
	return "known: " + strings.Join(sorted, ", ")
}

// All selects everything the catalog holds, channel by channel.
func (cat *FBC) All() *Selection {
	s := &Selection{Packages: map[string]*PackageSelection{}}
	for pn, p := range cat.Packages {
		for cn, c := range p.Channels {
			for _, e := range c.Entries {
				s.keep(pn, cn, e.Name)
			}
		}
	}
	return s
}

// Drop removes bundles (package -> bundle names) from the selection, and
// channels and packages left empty.
func (s *Selection) Drop(bundles map[string]map[string]bool) {
	for pn, gone := range bundles {
		ps := s.Packages[pn]
		if ps == nil {
			continue
		}
		for cn, bs := range ps.Channels {
			kept := bs[:0]
			for _, b := range bs {
				if !gone[b] {
					kept = append(kept, b)
				}
			}
			if len(kept) == 0 {
				delete(ps.Channels, cn)
			} else {
				ps.Channels[cn] = kept
			}
		}
		for b := range gone {
			delete(ps.Bundles, b)
		}
		if len(ps.Channels) == 0 {
			delete(s.Packages, pn)
		}
	}
}

// checkDefault applies oc-mirror's rule to a channel filter: the default
// channel must survive, either the catalog's or packages[].defaultChannel.
func checkDefault(p *Package, pf PackageFilter) error {
	kept := map[string]bool{}
	for _, cf := range pf.Channels {
		kept[cf.Name] = true
	}
	switch {
	case pf.DefaultChannel != "" && !kept[pf.DefaultChannel]:
		return fmt.Errorf("defaultChannel %s is not among the channels kept (%s); fix: name one of them", pf.DefaultChannel, strings.Join(keys(kept), ", "))
	case pf.DefaultChannel == "" && !kept[p.DefaultChannel]:
		return fmt.Errorf("the channels kept (%s) drop the default channel %s; fix: add defaultChannel: <one of them> to the package, or keep channel %s", strings.Join(keys(kept), ", "), p.DefaultChannel, p.DefaultChannel)
	}
	return nil
}

// withDefault is p with another default channel (p is not changed).
func withDefault(p *Package, ch string) *Package {
	q := *p
	q.DefaultChannel = ch
	return &q
}
