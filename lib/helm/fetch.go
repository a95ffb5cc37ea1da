package helm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/config"
)

// ErrOffOrigin: a repository's index.yaml, or a redirect, sent a download
// to a server the configuration does not name (or from https to http).
var ErrOffOrigin = errors.New("chart download off the repository's origin")

// OriginError names the URL refused and the repository it came from.
type OriginError struct {
	URL  string // without query
	Repo string // the repository's url
	Why  string
}

func (e *OriginError) Error() string {
	return fmt.Sprintf("%s: %s; fix: if that server is trusted, add it to mirror.helm.repositories as a repository of its own (url: %s), then charts of %s may be downloaded from it", e.URL, e.Why, origin(e.URL), e.Repo)
}

func (e *OriginError) Is(target error) bool { return target == ErrOffOrigin }

// origins are the servers chart downloads may reach: the origins (scheme,
// host, port) of the configured repositories. An index is another server's
// content: it may not send ocm-plan anywhere else, nor from https to http.
type origins map[string]bool

func repositoryOrigins(h *config.Helm) origins {
	o := origins{}
	for _, r := range h.Repositories {
		if u, err := url.Parse(r.URL); err == nil {
			o[canonicalOrigin(u)] = true
		}
	}
	return o
}

// check refuses u unless it is on a configured origin. from, when set, is
// the URL that led to u (a redirect): https never leads to http.
func (o origins) check(u, from *url.URL, repo string) error {
	if from != nil && strings.EqualFold(from.Scheme, "https") && !strings.EqualFold(u.Scheme, "https") {
		return &OriginError{URL: stripQuery(u), Repo: repo, Why: "redirected from https to plain http " + stripQuery(from)}
	}
	if !o[canonicalOrigin(u)] {
		why := "not on the origin of a configured Helm repository"
		if from != nil {
			why += " (redirected from " + stripQuery(from) + ")"
		}
		return &OriginError{URL: stripQuery(u), Repo: repo, Why: why}
	}
	return nil
}

// client is c's HTTP client with every redirect checked against o.
func (c *Collector) client(o origins, repo string) *http.Client {
	cp := *c.HTTP
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return fmt.Errorf("stopped after 10 redirects")
		}
		return o.check(req.URL, via[len(via)-1].URL, repo)
	}
	return &cp
}

func canonicalOrigin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if strings.EqualFold(u.Scheme, "http") {
			port = "80"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

func origin(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Scheme + "://" + u.Host
}

func stripQuery(u *url.URL) string {
	v := *u
	v.RawQuery, v.User = "", nil
	return v.String()
}

// maxEntryLine bounds one line of an index.yaml; real ones are short,
// descriptions included.
const maxEntryLine = 1 << 20

// indexVersion is what is kept of a chart version: the rest of an entry
// (descriptions, maintainers, dependencies) is dropped as it is decoded.
type indexVersion struct {
	Version string   `json:"version"`
	URLs    []string `json:"urls"`
}

// decodeIndex reads an index.yaml from r keeping only the entries of the
// charts in want (nil: every chart) and the names of all. Helm writes
// entries in block style, one chart after another: each chart's block is
// decoded on its own, so memory follows the largest chart, not the index
// (a whole 60 MiB index decoded at once took over a gigabyte). An index in
// another layout (JSON, flow style) is decoded whole.
func decodeIndex(r io.Reader, want map[string]bool) (*index, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	idx := &index{Entries: map[string][]indexVersion{}}
	var head bytes.Buffer // lines before entries, for the whole-file fallback
	inEntries, indent := false, -1
	var name string
	var block bytes.Buffer
	keep := false
	flush := func() error {
		if name == "" || !keep {
			if name != "" {
				idx.Entries[name] = nil
			}
			return nil
		}
		var m map[string][]indexVersion
		if err := yaml.Unmarshal(block.Bytes(), &m); err != nil {
			return fmt.Errorf("index.yaml: chart %s: %w", name, err)
		}
		idx.Entries[name] = m[name]
		return nil
	}
	for {
		line, err := readLine(br)
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		trimmed := strings.TrimLeft(line, " ")
		ind := len(line) - len(trimmed)
		blank := strings.TrimSpace(trimmed) == "" || strings.HasPrefix(trimmed, "#")
		switch {
		case !inEntries:
			if strings.HasPrefix(line, "entries:") && strings.TrimSpace(strings.TrimPrefix(line, "entries:")) == "" {
				inEntries = true
				continue
			}
			head.WriteString(line)
			if !blank && (strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[") || strings.HasPrefix(line, "entries:")) {
				// Not the block layout Helm writes: decode it whole.
				return decodeWhole(io.MultiReader(&head, br), want)
			}
		case blank:
			if keep {
				block.WriteString(line)
			}
		case ind == 0: // the next top-level key ends entries
			if err := flush(); err != nil {
				return nil, err
			}
			name, inEntries = "", false
			head.WriteString(line)
		default:
			if indent < 0 {
				indent = ind
			}
			if ind == indent && !strings.HasPrefix(trimmed, "-") {
				if err := flush(); err != nil {
					return nil, err
				}
				var k map[string]any
				if yaml.Unmarshal([]byte(trimmed), &k) != nil || len(k) != 1 {
					return nil, fmt.Errorf("index.yaml: entries: unreadable chart key %q", strings.TrimSpace(firstN(trimmed, 80)))
				}
				for n := range k {
					name = n
				}
				keep = want == nil || want[name]
				block.Reset()
			}
			if keep {
				if ind < indent {
					return nil, fmt.Errorf("index.yaml: entries: chart %s is indented less than the chart names", name)
				}
				block.WriteString(line[indent:])
			}
		}
		if err == io.EOF {
			break
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return idx, nil
}

// decodeWhole decodes an index not in Helm's own layout at once.
func decodeWhole(r io.Reader, want map[string]bool) (*index, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var idx index
	if err := yaml.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("index.yaml: %w", err)
	}
	if idx.Entries == nil {
		idx.Entries = map[string][]indexVersion{}
	}
	for n := range idx.Entries {
		if want != nil && !want[n] {
			idx.Entries[n] = nil
		}
	}
	return &idx, nil
}

// readLine reads one line, its newline included; a line longer than
// maxEntryLine is an error.
func readLine(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		frag, err := br.ReadSlice('\n')
		if sb.Len()+len(frag) > maxEntryLine {
			return "", fmt.Errorf("index.yaml: a line longer than %d bytes", maxEntryLine)
		}
		sb.Write(frag)
		if err == bufio.ErrBufferFull {
			continue
		}
		return sb.String(), err
	}
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// IndexMaxEnv raises the cap on an index.yaml (capread.HelmIndex), in MiB.
const IndexMaxEnv = "OCM_HELM_INDEX_MAX_MIB"

func indexCap() (int64, error) {
	v := os.Getenv(IndexMaxEnv)
	if v == "" {
		return capread.HelmIndex, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive number of MiB; fix: set it to e.g. 1024, or unset it for %d MiB", IndexMaxEnv, v, capread.HelmIndex>>20)
	}
	return n << 20, nil
}
