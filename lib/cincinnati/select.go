package cincinnati

import (
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// ChannelSpec is one mirror.platform.channels entry.
type ChannelSpec struct {
	Name         string
	MinVersion   string
	MaxVersion   string
	Full         bool
	ShortestPath bool
}

// Selected is a release chosen for mirroring.
type Selected struct {
	Node
	Channels []string // channels it was selected from
}

// Select picks releases from graphs (keyed by channel name) as specs ask:
//   - neither min nor max, not full: the channel's latest release;
//   - min and/or max: every release of the channel in [min, max] (a missing
//     bound is the channel's first or last release);
//   - full: every release of the channel;
//   - shortestPath: the releases on the shortest upgrade path from min to max,
//     through the edges of every shortestPath channel together (so chained
//     channels such as stable-4.14 and stable-4.15 give one path).
//
// A min or max that is not a release of its channel is an error.
func Select(graphs map[string]*Graph, specs []ChannelSpec) ([]Selected, error) {
	out := map[string]*Selected{}
	add := func(n Node, ch string) {
		s, ok := out[n.Version]
		if !ok {
			s = &Selected{Node: n}
			out[n.Version] = s
		}
		for _, c := range s.Channels {
			if c == ch {
				return
			}
		}
		s.Channels = append(s.Channels, ch)
	}
	var chained []ChannelSpec
	for _, sp := range specs {
		g := graphs[sp.Name]
		if g == nil {
			return nil, fmt.Errorf("channel %s: no update graph", sp.Name)
		}
		nodes, err := sortedNodes(g, sp.Name)
		if err != nil {
			return nil, err
		}
		lo, hi, err := bounds(nodes, sp)
		if err != nil {
			return nil, err
		}
		switch {
		case sp.ShortestPath:
			chained = append(chained, sp)
		case sp.Full:
			for _, n := range nodes {
				add(n.Node, sp.Name)
			}
		case sp.MinVersion == "" && sp.MaxVersion == "":
			add(nodes[len(nodes)-1].Node, sp.Name)
		default:
			for _, n := range nodes {
				if !n.v.LessThan(lo) && !n.v.GreaterThan(hi) {
					add(n.Node, sp.Name)
				}
			}
		}
	}
	if len(chained) > 0 {
		path, err := shortestPath(graphs, chained)
		if err != nil {
			return nil, err
		}
		for _, n := range path {
			add(n.Node, n.channel)
		}
	}
	res := make([]Selected, 0, len(out))
	for _, s := range out {
		sort.Strings(s.Channels)
		res = append(res, *s)
	}
	sort.Slice(res, func(i, j int) bool {
		return semver.MustParse(res[i].Version).LessThan(semver.MustParse(res[j].Version))
	})
	return res, nil
}

type vnode struct {
	Node
	v       *semver.Version
	channel string
}

func sortedNodes(g *Graph, channel string) ([]vnode, error) {
	var out []vnode
	for _, n := range g.Nodes {
		v, err := semver.NewVersion(n.Version)
		if err != nil {
			return nil, fmt.Errorf("channel %s: release %q is not a semantic version", channel, n.Version)
		}
		out = append(out, vnode{n, v, channel})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].v.LessThan(out[j].v) })
	return out, nil
}

// bounds resolves a spec's min and max against the channel's releases.
func bounds(nodes []vnode, sp ChannelSpec) (*semver.Version, *semver.Version, error) {
	lo, hi := nodes[0].v, nodes[len(nodes)-1].v
	find := func(s, what string) (*semver.Version, error) {
		for _, n := range nodes {
			if n.Version == s {
				return n.v, nil
			}
		}
		return nil, fmt.Errorf("channel %s: %s %s is not a release of this channel (it has %s); fix: pick one of its releases", sp.Name, what, s, span(nodes))
	}
	var err error
	if sp.MinVersion != "" {
		if lo, err = find(sp.MinVersion, "minVersion"); err != nil {
			return nil, nil, err
		}
	}
	if sp.MaxVersion != "" {
		if hi, err = find(sp.MaxVersion, "maxVersion"); err != nil {
			return nil, nil, err
		}
	}
	if hi.LessThan(lo) {
		return nil, nil, fmt.Errorf("channel %s: minVersion %s is above maxVersion %s", sp.Name, lo, hi)
	}
	return lo, hi, nil
}

func span(nodes []vnode) string {
	if len(nodes) <= 6 {
		var vs []string
		for _, n := range nodes {
			vs = append(vs, n.Version)
		}
		return strings.Join(vs, ", ")
	}
	return fmt.Sprintf("%d releases from %s to %s", len(nodes), nodes[0].Version, nodes[len(nodes)-1].Version)
}

// shortestPath finds the fewest-hops upgrade path over the union of the
// chained channels' graphs, from the lowest requested min (or the lowest
// release) to the highest requested max (or the highest release).
func shortestPath(graphs map[string]*Graph, specs []ChannelSpec) ([]vnode, error) {
	byVersion := map[string]vnode{}
	adj := map[string][]string{}
	var from, to *vnode
	var names []string
	for _, sp := range specs {
		names = append(names, sp.Name)
		g := graphs[sp.Name]
		nodes, err := sortedNodes(g, sp.Name)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			if _, ok := byVersion[n.Version]; !ok {
				byVersion[n.Version] = n
			}
		}
		for _, e := range g.Edges {
			adj[g.Nodes[e[0]].Version] = append(adj[g.Nodes[e[0]].Version], g.Nodes[e[1]].Version)
		}
		for _, ce := range g.ConditionalEdges {
			for _, e := range ce.Edges {
				adj[e.From] = append(adj[e.From], e.To)
			}
		}
		lo, hi, err := bounds(nodes, sp)
		if err != nil {
			return nil, err
		}
		for i := range nodes {
			n := nodes[i]
			if n.v.Equal(lo) && (from == nil || n.v.LessThan(from.v)) {
				from = &n
			}
			if n.v.Equal(hi) && (to == nil || n.v.GreaterThan(to.v)) {
				to = &n
			}
		}
	}
	// Breadth-first search; neighbours in version order so the path chosen
	// among equals is the same every run.
	for k := range adj {
		vs := adj[k]
		sort.Slice(vs, func(i, j int) bool {
			return semver.MustParse(vs[i]).LessThan(semver.MustParse(vs[j]))
		})
	}
	prev := map[string]string{from.Version: ""}
	queue := []string{from.Version}
	for len(queue) > 0 && queue[0] != to.Version {
		cur := queue[0]
		queue = queue[1:]
		for _, nx := range adj[cur] {
			if _, seen := prev[nx]; !seen {
				if _, known := byVersion[nx]; !known {
					continue
				}
				prev[nx] = cur
				queue = append(queue, nx)
			}
		}
	}
	if _, ok := prev[to.Version]; !ok {
		return nil, fmt.Errorf("channels %s: no upgrade path from %s to %s in the update graph; fix: choose versions that are connected, or drop shortestPath", strings.Join(names, ", "), from.Version, to.Version)
	}
	var path []vnode
	for v := to.Version; v != ""; v = prev[v] {
		path = append([]vnode{byVersion[v]}, path...)
	}
	return path, nil
}
