package testenv

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Faults says how often a FaultProxy misbehaves, per request (0 to 1).
type Faults struct {
	TooManyRequests float64       // 429 with Retry-After: 1
	ServerError     float64       // 500, 502 or 503
	Reset           float64       // connection closed without an answer
	SlowBody        float64       // response body dribbled out slowly
	SlowDelay       time.Duration // pause between dribbled chunks (default 20ms)
	// Always fails (500) every request whose path contains this string, to
	// model an image that stays broken whatever the retries.
	Always string
	Seed   uint64
}

// FaultProxy sits in front of a registry on 127.0.0.1 and injects faults.
type FaultProxy struct {
	Host     string
	Injected atomic.Int64 // faults injected so far
	srv      *http.Server
	ln       net.Listener
}

// StartFaultProxy proxies to target (a registry's base URL).
func StartFaultProxy(target string, f Faults) (*FaultProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{Host: ln.Addr().String(), ln: ln}
	rp := httputil.NewSingleHostReverseProxy(u)
	base := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		base(r)
		// Keep the proxy's host so the registry's upload Locations point back
		// through the proxy.
		r.Host = host
	}
	rp.ErrorLog = nil
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(f.Seed, f.Seed+1))
	roll := func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return rng.Float64()
	}
	if f.SlowDelay == 0 {
		f.SlowDelay = 20 * time.Millisecond
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.Always != "" && strings.Contains(r.URL.Path, f.Always) {
			p.Injected.Add(1)
			http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected permanent failure"}]}`, http.StatusInternalServerError)
			return
		}
		x := roll()
		switch {
		case x < f.TooManyRequests:
			p.Injected.Add(1)
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"injected"}]}`, http.StatusTooManyRequests)
			return
		case x < f.TooManyRequests+f.ServerError:
			p.Injected.Add(1)
			codes := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}
			http.Error(w, "injected", codes[int(x*1000)%3])
			return
		case x < f.TooManyRequests+f.ServerError+f.Reset:
			p.Injected.Add(1)
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					if tc, ok := c.(*net.TCPConn); ok {
						tc.SetLinger(0) // RST, not FIN
					}
					c.Close()
					return
				}
			}
		case x < f.TooManyRequests+f.ServerError+f.Reset+f.SlowBody:
			p.Injected.Add(1)
			rp.ServeHTTP(&slowWriter{ResponseWriter: w, delay: f.SlowDelay}, r)
			return
		}
		rp.ServeHTTP(w, r)
	})
	p.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the proxy.
func (p *FaultProxy) Close() error { return p.srv.Close() }

// slowWriter writes the body in small chunks with pauses.
type slowWriter struct {
	http.ResponseWriter
	delay time.Duration
}

func (s *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), 16<<10)
		m, err := s.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(s.delay)
		b = b[k:]
	}
	return n, nil
}

var _ io.Writer = (*slowWriter)(nil)
