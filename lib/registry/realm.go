package registry

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// ErrRealm: a registry named a token service (its Bearer realm) ocm does
// not send credentials to.
var ErrRealm = errors.New("token realm refused")

// RealmError names the registry and the realm it named.
type RealmError struct {
	Registry string
	Realm    string
	Why      string
	Fix      string
}

func (e *RealmError) Error() string {
	return fmt.Sprintf("%s: token service %s refused: %s; fix: %s", e.Registry, e.Realm, e.Why, e.Fix)
}

func (e *RealmError) Is(target error) bool { return target == ErrRealm }

// realmHop decides where a registry's token service may be, for the
// handshake. go-containerregistry accepts a realm only on the registry's
// host and port, or on a host that is not a private, loopback or
// link-local address, and says no fix when it refuses. ocm also accepts
// the registry's host on another port (a token service beside the
// registry, as docker_auth and Harbor deploy it), over https or the
// registry's own scheme: such a realm is handed to go-containerregistry as
// a URL on the registry's host:port carrying an unguessable key, which
// this layer turns back into the real realm when the token is asked for.
// Other refusals are made here, with the fix.
type realmHop struct {
	inner http.RoundTripper

	mu   sync.Mutex
	hops map[string]*url.URL // key -> the realm it stands for
	keys map[string]string   // realm -> its key: every 401 names it again
}

// realmHopPath is where a handed-over realm points on the registry's host.
const realmHopPath = "/.ocm-token-realm/"

func newRealmHop(inner http.RoundTripper) *realmHop {
	return &realmHop{inner: inner, hops: map[string]*url.URL{}, keys: map[string]string{}}
}

func (h *realmHop) RoundTrip(req *http.Request) (*http.Response, error) {
	if key, ok := strings.CutPrefix(req.URL.Path, realmHopPath); ok {
		h.mu.Lock()
		to := h.hops[key]
		h.mu.Unlock()
		if to != nil {
			out := req.Clone(req.Context())
			u := *to
			u.RawQuery = req.URL.RawQuery // the service and scope asked for
			out.URL, out.Host = &u, ""
			return h.inner.RoundTrip(out)
		}
	}
	resp, err := h.inner.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	for i, v := range resp.Header.Values("WWW-Authenticate") {
		nv, err := h.check(req.URL, v)
		if err != nil {
			resp.Body.Close()
			return nil, err
		}
		if nv != v {
			resp.Header["Www-Authenticate"][i] = nv
		}
	}
	return resp, nil
}

// check returns challenge v as go-containerregistry is to see it, or the
// refusal of its realm. reg is the URL the registry answered.
func (h *realmHop) check(reg *url.URL, v string) (string, error) {
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "bearer ") {
		return v, nil
	}
	realm, ok := challengeRealm(v)
	if !ok {
		return v, nil
	}
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return v, nil // go-containerregistry refuses these itself
	}
	bad := func(why, fix string) error {
		return &RealmError{Registry: reg.Host, Realm: stripQuery(u), Why: why, Fix: fix}
	}
	if u.Scheme != "https" && !strings.EqualFold(reg.Scheme, u.Scheme) {
		return "", bad("plain http from an https registry", "make the token service answer https (credentials are sent to it)")
	}
	if strings.EqualFold(u.Host, reg.Host) {
		return v, nil
	}
	if strings.EqualFold(u.Hostname(), reg.Hostname()) {
		h.mu.Lock()
		k, ok := h.keys[realm]
		if !ok {
			key := make([]byte, 16)
			rand.Read(key)
			k = hex.EncodeToString(key)
			h.hops[k], h.keys[realm] = u, k
		}
		h.mu.Unlock()
		local := url.URL{Scheme: reg.Scheme, Host: reg.Host, Path: realmHopPath + k}
		return strings.Replace(v, realm, local.String(), 1), nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() {
			return "", bad("another host, at a private, loopback or link-local address",
				"serve the token service on the registry's own host (any port), or have the registry name it by a host name")
		}
	}
	return v, nil
}

var realmParam = regexp.MustCompile(`(?i)(?:^|[\s,])realm="([^"]*)"`)

// challengeRealm reads the quoted realm of a WWW-Authenticate challenge.
func challengeRealm(v string) (string, bool) {
	m := realmParam.FindStringSubmatch(v)
	if m == nil {
		return "", false
	}
	return m[1], true
}
