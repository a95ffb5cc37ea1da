package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ocm-mirror/ocm/lib/capread"
	"github.com/ocm-mirror/ocm/lib/manifest"
	"github.com/ocm-mirror/ocm/lib/retry"
	"github.com/ocm-mirror/ocm/lib/verify"
)

// ManifestAccept lists the manifest types ocm copies.
var ManifestAccept = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// ErrBadReference is wrapped by the error for a tag or digest that must not
// go into a URL (a tampered record's "sha256:../../x" would be a path).
var ErrBadReference = errors.New("bad tag or digest")

var tagRef = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// url builds a manifest or blob URL, checking ref first: blobs take a digest,
// manifests a digest or a tag. Nothing else reaches the registry.
func (c *Client) url(repo name.Repository, kind, ref string) (string, error) {
	ok := verify.ValidDigest(ref) || (kind == "manifests" && tagRef.MatchString(ref))
	if !ok {
		want := "a sha256 digest"
		if kind == "manifests" {
			want += " or a tag"
		}
		return "", fmt.Errorf("%s %q of %s is not %s: %w", strings.TrimSuffix(kind, "s"), ref, repo, want, ErrBadReference)
	}
	return fmt.Sprintf("%s://%s/v2/%s/%s/%s", c.scheme(repo), repo.RegistryStr(), repo.RepositoryStr(), kind, ref), nil
}

// do sends one request built by mk (called again on each retry) and returns
// the response when its status is one of ok; other answers become *HTTPError.
// It is the one place requests are retried: callers do not retry it.
func (c *Client) do(ctx context.Context, repo name.Repository, push bool, mk func() (*http.Request, error), ok ...int) (*http.Response, error) {
	return c.send(ctx, repo, push, c.opts.Retry.Budget(), nil, mk, nil, ok...)
}

// send is do on budget b, after the error that ended the last try (nil:
// none). read, when set, consumes the response inside the try so that a
// body cut short is retried like a failed request; it closes the body
// unless it returns it to the caller in some form.
func (c *Client) send(ctx context.Context, repo name.Repository, push bool, b *retry.Budget, after error, mk func() (*http.Request, error), read func(*http.Response) error, ok ...int) (*http.Response, error) {
	rt, err := c.transport(ctx, repo, push)
	if err != nil {
		return nil, err
	}
	var resp *http.Response
	var what string
	err = b.Do(ctx, after, func() error {
		var err error
		resp, what, err = c.once(ctx, repo, rt, mk, ok...)
		if err == nil && read != nil {
			if err = read(resp); err != nil {
				resp.Body.Close()
			}
		}
		return err
	}, func(attempt int, wait time.Duration, err error) {
		if what == "" && after != nil {
			what = "reading " + repo.String()
		}
		c.logRetry(what)(attempt, wait, err)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// once sends one request on rt, without retrying.
func (c *Client) once(ctx context.Context, repo name.Repository, rt http.RoundTripper, mk func() (*http.Request, error), ok ...int) (*http.Response, string, error) {
	req, err := mk()
	if err != nil {
		return nil, "", err
	}
	what := req.Method + " " + stripQuery(req.URL)
	// A token refresh inside rt may be told to wait: keep that.
	rctx, ra := withRetryAfterSink(ctx)
	resp, err := rt.RoundTrip(req.WithContext(rctx))
	if err != nil {
		return nil, what, ra.hint(explain(repo.RegistryStr(), c.certs, err))
	}
	first := req
	if redirected(req, resp) {
		// Blob reads are sent on to storage or a CDN (quay.io,
		// registry.redhat.io, S3-backed registries): follow, hop by hop.
		if resp, req, err = c.follow(rctx, rt, req, resp); err != nil {
			return nil, what, ra.hint(err)
		}
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp, what, nil
		}
	}
	defer resp.Body.Close()
	e := readError(req, resp)
	if req != first {
		e.RedirectedFrom = stripQuery(first.URL)
	}
	return nil, what, e
}

func stripQuery(u *url.URL) string {
	v := *u
	v.RawQuery = ""
	return v.String()
}

func readError(req *http.Request, resp *http.Response) *HTTPError {
	e := &HTTPError{Method: req.Method, URL: stripQuery(req.URL), StatusCode: resp.StatusCode}
	e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env struct {
		Errors []struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Detail  json.RawMessage `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Errors) > 0 {
		var msgs []string
		for _, x := range env.Errors {
			e.Codes = append(e.Codes, x.Code)
			m := x.Message
			var d string
			if json.Unmarshal(x.Detail, &d) == nil && d != "" && len(d) < 200 {
				m += " (" + d + ")"
			}
			if m != "" {
				msgs = append(msgs, m)
			}
		}
		e.Message = strings.Join(msgs, "; ")
	} else if req.Method != http.MethodHead {
		e.Message = strings.TrimSpace(firstLine(string(body)))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
	}
	return e
}

// HeadManifest asks for a manifest's descriptor; found is false on 404.
func (c *Client) HeadManifest(ctx context.Context, repo name.Repository, ref string) (d manifest.Descriptor, found bool, err error) {
	if c.opts.Mirrors == nil {
		return c.headManifest(ctx, repo, ref)
	}
	err = c.fromSources(ctx, repo, ref, func(r name.Repository) error {
		var e error
		d, found, e = c.headManifest(ctx, r, ref)
		if e == nil && !found {
			e = &HTTPError{Method: http.MethodHead, URL: r.String(), StatusCode: http.StatusNotFound}
		}
		return e
	})
	if NotFound(err) {
		return d, false, nil
	}
	return d, found, err
}

func (c *Client) headManifest(ctx context.Context, repo name.Repository, ref string) (d manifest.Descriptor, found bool, err error) {
	u, err := c.url(repo, "manifests", ref)
	if err != nil {
		return d, false, err
	}
	resp, err := c.do(ctx, repo, false, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodHead, u, nil)
		if err == nil {
			req.Header.Set("Accept", ManifestAccept)
		}
		return req, err
	}, http.StatusOK)
	if NotFound(err) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	resp.Body.Close()
	d = manifest.Descriptor{Digest: resp.Header.Get("Docker-Content-Digest"), MediaType: mediaType(resp), Size: resp.ContentLength}
	return d, true, nil
}

func mediaType(resp *http.Response) string {
	mt := resp.Header.Get("Content-Type")
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	return strings.TrimSpace(mt)
}

// Manifest fetches a manifest by tag or digest and returns its bytes, media
// type and digest. Fetched by digest, the bytes are verified against it.
func (c *Client) Manifest(ctx context.Context, repo name.Repository, ref string) (body []byte, mt, digest string, err error) {
	if c.opts.Mirrors == nil {
		return c.manifest(ctx, repo, ref)
	}
	err = c.fromSources(ctx, repo, ref, func(r name.Repository) error {
		var e error
		body, mt, digest, e = c.manifest(ctx, r, ref)
		return e
	})
	return body, mt, digest, err
}

func (c *Client) manifest(ctx context.Context, repo name.Repository, ref string) (body []byte, mt, digest string, err error) {
	u, err := c.url(repo, "manifests", ref)
	if err != nil {
		return nil, "", "", err
	}
	_, err = c.send(ctx, repo, false, c.opts.Retry.Budget(), nil, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err == nil {
			req.Header.Set("Accept", ManifestAccept)
		}
		return req, err
	}, func(resp *http.Response) error {
		defer resp.Body.Close()
		body, err = capread.All(resp.Body, fmt.Sprintf("manifest %s@%s", repo, ref), capread.Manifest)
		if errors.Is(err, capread.ErrTooLarge) {
			return retry.Permanent(err) // as large on every try
		}
		if err != nil {
			return fmt.Errorf("reading manifest %s@%s: %w", repo, ref, err)
		}
		mt = mediaType(resp)
		return nil
	}, http.StatusOK)
	if err != nil {
		return nil, "", "", err
	}
	sum := sha256.Sum256(body)
	digest = "sha256:" + hex.EncodeToString(sum[:])
	if strings.HasPrefix(ref, "sha256:") && ref != digest {
		return nil, "", "", fmt.Errorf("manifest %s@%s: registry sent content with digest %s (digest mismatch)", repo, ref, digest)
	}
	// The body decides what it is; a Content-Type that disagrees is an error
	// (an image served as an index would be copied without its layers).
	_, decided, perr := manifest.Parse(body, mt)
	switch {
	case errors.Is(perr, manifest.ErrMismatch):
		return nil, "", "", fmt.Errorf("manifest %s@%s from the registry: %w", repo, ref, perr)
	case perr == nil:
		mt = decided
	case mt == "" || mt == "application/json" || mt == "text/plain":
		mt = manifest.Sniff(body)
	}
	return body, mt, digest, nil
}

// PutManifest uploads a manifest under ref (a tag or its digest).
func (c *Client) PutManifest(ctx context.Context, repo name.Repository, ref string, body []byte, mt string) error {
	u, err := c.url(repo, "manifests", ref)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, repo, true, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", mt)
			req.ContentLength = int64(len(body))
		}
		return req, err
	}, http.StatusCreated, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// DeleteManifest removes a manifest by digest.
func (c *Client) DeleteManifest(ctx context.Context, repo name.Repository, digest string) error {
	u, err := c.url(repo, "manifests", digest)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, repo, true, func() (*http.Request, error) {
		return http.NewRequest(http.MethodDelete, u, nil)
	}, http.StatusAccepted, http.StatusOK, http.StatusNoContent)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// HasBlob reports whether repo holds the blob.
func (c *Client) HasBlob(ctx context.Context, repo name.Repository, digest string, push bool) (bool, error) {
	u, err := c.url(repo, "blobs", digest)
	if err != nil {
		return false, err
	}
	resp, err := c.do(ctx, repo, push, func() (*http.Request, error) {
		return http.NewRequest(http.MethodHead, u, nil)
	}, http.StatusOK)
	if NotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

// Blob opens a blob for streaming. The reader verifies the digest as it is
// read and fails at EOF on a mismatch, so a corrupt blob never looks complete.
func (c *Client) Blob(ctx context.Context, repo name.Repository, digest string) (rc io.ReadCloser, size int64, err error) {
	if c.opts.Mirrors == nil {
		return c.blob(ctx, repo, digest)
	}
	err = c.fromSources(ctx, repo, digest, func(r name.Repository) error {
		var e error
		rc, size, e = c.blob(ctx, r, digest)
		return e
	})
	return rc, size, err
}

func (c *Client) blob(ctx context.Context, repo name.Repository, digest string) (io.ReadCloser, int64, error) {
	u, err := c.url(repo, "blobs", digest)
	if err != nil {
		return nil, 0, err
	}
	r := &resumingReader{c: c, ctx: ctx, repo: repo, url: u, budget: c.opts.Retry.Budget()}
	resp, err := c.send(ctx, repo, false, r.budget, nil, r.request, nil, http.StatusOK)
	if err != nil {
		return nil, 0, err
	}
	r.body, r.size = resp.Body, resp.ContentLength
	vr, err := verify.NewReader(r, digest, resp.ContentLength)
	if err != nil {
		resp.Body.Close()
		return nil, 0, err
	}
	return vr, resp.ContentLength, nil
}

// resumingReader reads a blob and, when the stream is cut or stalls, asks
// again from where it stopped (a Range request; from the start, skipping
// what was read, if the registry ignores Range). Resuming spends the tries
// of the request that opened the stream: the copy above never retries.
type resumingReader struct {
	c      *Client
	ctx    context.Context
	repo   name.Repository
	url    string
	budget *retry.Budget

	body io.ReadCloser
	off  int64
	size int64 // -1: unknown
	err  error // sticky: the stream failed for good
}

// request asks the registry, never the storage URL a redirect led to: a
// resume restarts the redirect chain. Presigned URLs expire (the CNCF
// registry signs them for 20 minutes, CDNs often for less), and a resume
// comes after a stall and backoff; the registry hands out a fresh one for
// the price of one small request. The Range header rides along every hop.
func (r *resumingReader) request() (*http.Request, error) {
	req, err := http.NewRequest(http.MethodGet, r.url, nil)
	if err == nil && r.off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", r.off))
	}
	return req, err
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for r.err == nil {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == io.EOF && r.size >= 0 && r.off < r.size {
			err = io.ErrUnexpectedEOF
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		r.body.Close()
		if err = r.resume(err); err != nil {
			r.err = err
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, r.err
}

// resume reopens the stream at r.off after cut ended it.
func (r *resumingReader) resume(cut error) error {
	resp, err := r.c.send(r.ctx, r.repo, false, r.budget, cut, r.request, func(resp *http.Response) error {
		switch {
		case resp.StatusCode == http.StatusPartialContent:
			if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", r.off)) {
				return fmt.Errorf("resuming %s at byte %d: registry answered range %q", r.url, r.off, resp.Header.Get("Content-Range"))
			}
		case r.off > 0:
			// Range ignored: skip what was read already.
			if _, err := io.CopyN(io.Discard, resp.Body, r.off); err != nil {
				return fmt.Errorf("resuming %s: %w", stripQuery(resp.Request.URL), err)
			}
		}
		return nil
	}, http.StatusOK, http.StatusPartialContent)
	if err != nil {
		return fmt.Errorf("reading blob %s at byte %d: %w", r.repo, r.off, err)
	}
	r.body = resp.Body
	return nil
}

func (r *resumingReader) Close() error {
	if r.body == nil {
		return nil
	}
	return r.body.Close()
}

// Mount asks the registry to link a blob from another repository of the same
// registry into repo. mounted is false when the registry declined (the blob
// must then be uploaded); location is the upload session it opened instead.
func (c *Client) Mount(ctx context.Context, repo name.Repository, digest, from string) (mounted bool, location string, err error) {
	if !verify.ValidDigest(digest) {
		return false, "", fmt.Errorf("blob digest %q is not a sha256 digest: %w", digest, ErrBadReference)
	}
	q := url.Values{}
	q.Set("mount", digest)
	q.Set("from", from)
	resp, err := c.do(ctx, repo, true, func() (*http.Request, error) {
		return http.NewRequest(http.MethodPost, fmt.Sprintf("%s://%s/v2/%s/blobs/uploads/?%s", c.scheme(repo), repo.RegistryStr(), repo.RepositoryStr(), q.Encode()), nil)
	}, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return true, "", nil
	}
	loc, err := location2(repo, resp)
	return false, loc, err
}

func location2(repo name.Repository, resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("registry %s opened an upload without a Location header", repo.RegistryStr())
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("registry %s sent a bad upload Location %q: %w", repo.RegistryStr(), loc, err)
	}
	return u.String(), nil
}

// Upload streams a blob of known digest and size into repo in one request.
// location is an upload session from Mount, or "" to open one. open gives
// the content afresh for each try; a failure of the content itself (what
// open returned failed while being read) is not retried here, its source
// has retried already. An upload (POST and PUT) is tried at most
// Retry.Attempts times in all. It returns the bytes read from open.
func (c *Client) Upload(ctx context.Context, repo name.Repository, digest string, size int64, open func() (io.ReadCloser, error), location string) (int64, error) {
	if !verify.ValidDigest(digest) {
		return 0, fmt.Errorf("blob digest %q is not a sha256 digest: %w", digest, ErrBadReference)
	}
	rt, err := c.transport(ctx, repo, true)
	if err != nil {
		return 0, err
	}
	var n int64
	what := "upload " + digest + " to " + repo.String()
	err = c.opts.Retry.Do(ctx, func() error {
		loc := location
		location = "" // an upload session serves one try
		body, err := open()
		if err != nil {
			return retry.Permanent(err)
		}
		defer body.Close()
		sr := &sourceReader{r: body}
		err = c.uploadOnce(ctx, repo, rt, digest, size, sr, loc)
		n += sr.n
		if sr.err != nil {
			// The content failed first (a digest mismatch, a cut
			// stream): that is the cause, whatever the registry
			// answered to the body it could not finish.
			return retry.Permanent(sr.err)
		}
		return err
	}, c.logRetry(what))
	return n, err
}

func (c *Client) uploadOnce(ctx context.Context, repo name.Repository, rt http.RoundTripper, digest string, size int64, r io.Reader, location string) error {
	if location == "" {
		resp, _, err := c.once(ctx, repo, rt, func() (*http.Request, error) {
			return http.NewRequest(http.MethodPost, fmt.Sprintf("%s://%s/v2/%s/blobs/uploads/", c.scheme(repo), repo.RegistryStr(), repo.RepositoryStr()), nil)
		}, http.StatusAccepted)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if location, err = location2(repo, resp); err != nil {
			return err
		}
	}
	u, err := url.Parse(location)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("digest", digest)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), io.NopCloser(r))
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return explain(repo.RegistryStr(), c.certs, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return readError(req, resp)
	}
	return nil
}

// sourceReader counts what was read and remembers the error the content
// ended with.
type sourceReader struct {
	r   io.Reader
	n   int64
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// Tags lists a repository's tags (all pages); a missing repository has none.
func (c *Client) Tags(ctx context.Context, repo name.Repository) ([]string, error) {
	var all []string
	next := fmt.Sprintf("%s://%s/v2/%s/tags/list?n=1000", c.scheme(repo), repo.RegistryStr(), repo.RepositoryStr())
	for next != "" {
		u := next
		resp, err := c.do(ctx, repo, false, func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, u, nil)
		}, http.StatusOK)
		if NotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		b, err := capread.All(resp.Body, "tag list of "+repo.String(), capread.Meta)
		resp.Body.Close()
		if err == nil {
			err = json.Unmarshal(b, &page)
		}
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", repo, err)
		}
		all = append(all, page.Tags...)
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			// <url>; rel="next"
			if i, j := strings.IndexByte(l, '<'), strings.IndexByte(l, '>'); i >= 0 && j > i {
				if nu, err := resp.Request.URL.Parse(l[i+1 : j]); err == nil {
					next = nu.String()
				}
			}
		}
	}
	return all, nil
}

// ErrNoReferrersAPI says the registry does not serve the OCI 1.1 referrers
// API (it answered 404): callers fall back to the referrers tag schema.
var ErrNoReferrersAPI = errors.New("registry has no referrers API")

// Referrers asks the referrers API for the manifests whose subject is
// digest and returns their descriptors (the entries of the index served).
func (c *Client) Referrers(ctx context.Context, repo name.Repository, digest string) ([]manifest.Descriptor, error) {
	var out []manifest.Descriptor
	if !verify.ValidDigest(digest) {
		return nil, fmt.Errorf("referrers of %s: %q is not a sha256 digest: %w", repo, digest, ErrBadReference)
	}
	// Whether a registry serves the referrers API is a property of the
	// registry (its implementation and version), not of a repository or a
	// subject: once a host has said it has none, asking it again for the
	// next subject only costs a round trip with the same answer. Only
	// without mirrors, where the question goes to that one host.
	host := repo.RegistryStr()
	if _, known := c.noReferrersAPI.Load(host); known && c.opts.Mirrors == nil {
		return nil, fmt.Errorf("referrers of %s@%s: %w (as it answered before)", repo, digest, ErrNoReferrersAPI)
	}
	get := func(r name.Repository) error {
		u := fmt.Sprintf("%s://%s/v2/%s/referrers/%s", c.scheme(r), r.RegistryStr(), r.RepositoryStr(), digest)
		_, err := c.send(ctx, r, false, c.opts.Retry.Budget(), nil, func() (*http.Request, error) {
			req, err := http.NewRequest(http.MethodGet, u, nil)
			if err == nil {
				req.Header.Set("Accept", manifest.OCIIndex)
			}
			return req, err
		}, func(resp *http.Response) error {
			defer resp.Body.Close()
			b, err := capread.All(resp.Body, fmt.Sprintf("referrers of %s@%s", r, digest), capread.Manifest)
			if errors.Is(err, capread.ErrTooLarge) {
				return retry.Permanent(err) // as large on every try
			}
			if err != nil {
				return fmt.Errorf("reading referrers of %s@%s: %w", r, digest, err)
			}
			// A registry without the API may answer 200 with something else
			// (an HTML page of a proxy): only an index counts.
			if mt := mediaType(resp); mt != manifest.OCIIndex {
				return fmt.Errorf("referrers of %s@%s: %w (answered %q)", r, digest, ErrNoReferrersAPI, mt)
			}
			// An empty list is the API's answer for an image nothing
			// refers to; Parse refuses an index with no image to copy.
			var list struct {
				Manifests []json.RawMessage `json:"manifests"`
			}
			if json.Unmarshal(b, &list) == nil && len(list.Manifests) == 0 {
				out = nil
				return nil
			}
			m, _, err := manifest.Parse(b, manifest.OCIIndex)
			if err != nil {
				return fmt.Errorf("referrers of %s@%s: %w", r, digest, err)
			}
			out = m.Manifests
			return nil
		}, http.StatusOK)
		return err
	}
	var err error
	if c.opts.Mirrors == nil {
		err = get(repo)
	} else {
		err = c.fromSources(ctx, repo, digest, get)
	}
	// 404 is the spec's answer; 400 and 406 come from registries that do
	// not know the route (go-containerregistry falls back on all three).
	var he *HTTPError
	if errors.As(err, &he) && (he.StatusCode == http.StatusNotFound || he.StatusCode == http.StatusBadRequest || he.StatusCode == http.StatusNotAcceptable) {
		err = fmt.Errorf("referrers of %s@%s: %w", repo, digest, ErrNoReferrersAPI)
		out = nil
	}
	if errors.Is(err, ErrNoReferrersAPI) && c.opts.Mirrors == nil && !namesUnknown(he) {
		c.noReferrersAPI.Store(host, struct{}{})
	}
	return out, err
}

// namesUnknown says e names a missing repository or manifest: a registry
// with the referrers API may answer so for one repository or subject, so
// it says nothing of the registry.
func namesUnknown(e *HTTPError) bool {
	if e == nil {
		return false
	}
	for _, code := range e.Codes {
		if code == "NAME_UNKNOWN" || code == "MANIFEST_UNKNOWN" {
			return true
		}
	}
	return false
}
