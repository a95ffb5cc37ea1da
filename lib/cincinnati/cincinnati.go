// Package cincinnati reads OpenShift update graphs (the Cincinnati API) and
// selects the releases an image set asks for: the latest of a channel, a
// version range, the whole channel, or the shortest upgrade path.
package cincinnati

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/ocm-mirror/ocm/lib/capread"
)

// Default update service base URLs.
const (
	OCPBase = "https://api.openshift.com"
	// OKDBase is the OKD update graph endpoint the reference tool queries
	// (its OkdUpdateURL): a full URL, channel and arch go in the query.
	OKDBase = "https://origin-release.ci.openshift.org/graph"
	// OverrideEnv replaces the base URL, as the reference tool's environment variable does.
	OverrideEnv = "UPDATE_URL_OVERRIDE"
	graphPath   = "/api/upgrades_info/v1/graph"
)

// Node is one release of the graph.
type Node struct {
	Version  string            `json:"version"`
	Payload  string            `json:"payload"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Graph is a channel's update graph for one architecture.
type Graph struct {
	Nodes []Node   `json:"nodes"`
	Edges [][2]int `json:"edges"`
	// ConditionalEdges are kept for completeness; ocm treats their targets as
	// reachable (mirroring more is safe, less is not).
	ConditionalEdges []conditional `json:"conditionalEdges,omitempty"`
}

type conditional struct {
	Edges []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"edges"`
}

// GraphArch maps an ImageSetConfiguration architecture to the graph's name.
func GraphArch(arch string) string {
	switch arch {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return arch
}

// PayloadArch maps a graph architecture to the name used in payload tags.
func PayloadArch(arch string) string {
	switch arch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return arch
}

// Client fetches graphs.
type Client struct {
	// HTTP is the client of the commands (registry.Client.HTTPClient:
	// retries, idle timeout, TLS policy). Required: there is no fallback
	// to a client without the transport's budget and TLS policy.
	HTTP *http.Client
	// Base is the service base URL; "" means UPDATE_URL_OVERRIDE, else the
	// default for the platform type.
	Base string
}

// graphURL builds the request URL. The override may be a base URL or a full
// URL ending in /graph: users set either.
func (c *Client) graphURL(platformType, channel, arch string) (string, error) {
	base := c.Base
	if base == "" {
		base = os.Getenv(OverrideEnv)
	}
	if base == "" {
		base = OCPBase
		if platformType == "okd" {
			base = OKDBase
		}
	}
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("update service URL %q is not an http(s) URL; fix: set %s to e.g. http://host:port", base, OverrideEnv)
	}
	if !strings.HasSuffix(u.Path, "/graph") {
		u.Path += graphPath
	}
	q := u.Query()
	q.Set("channel", channel)
	q.Set("arch", arch)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Fetch reads the graph of channel for arch (graph architecture names).
func (c *Client) Fetch(ctx context.Context, platformType, channel, arch string) (*Graph, error) {
	u, err := c.graphURL(platformType, channel, arch)
	if err != nil {
		return nil, err
	}
	if c.HTTP == nil {
		return nil, errors.New("update graph: no HTTP client; fix: set Client.HTTP to registry.Client.HTTPClient()")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("update graph for %s/%s (the update service; %s sets it): %w", channel, arch, OverrideEnv, err)
	}
	defer resp.Body.Close()
	body, err := capread.All(resp.Body, "update graph response from "+u, capread.Meta)
	if err != nil {
		return nil, fmt.Errorf("update graph for %s/%s: %w", channel, arch, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("update graph for %s/%s: %s from %s: %s", channel, arch, resp.Status, u, firstLine(string(body)))
	}
	var g Graph
	if err := json.Unmarshal(body, &g); err != nil {
		return nil, fmt.Errorf("update graph for %s/%s from %s: %v", channel, arch, u, err)
	}
	if len(g.Nodes) == 0 {
		return nil, fmt.Errorf("channel %s has no releases for %s (graph from %s); fix: check the channel name and architecture", channel, arch, u)
	}
	for _, e := range g.Edges {
		if e[0] < 0 || e[1] < 0 || e[0] >= len(g.Nodes) || e[1] >= len(g.Nodes) {
			return nil, fmt.Errorf("update graph for %s/%s: edge %v points outside %d nodes", channel, arch, e, len(g.Nodes))
		}
	}
	return &g, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
