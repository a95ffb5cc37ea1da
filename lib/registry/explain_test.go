package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
)

// both is an error list with Is and As but no Unwrap, as
// go-containerregistry's handshake returns its https and http errors.
type both []error

func (b both) Error() string { return b[0].Error() + "; " + b[1].Error() }
func (b both) Is(t error) bool {
	for _, e := range b {
		if errors.Is(e, t) {
			return true
		}
	}
	return false
}
func (b both) As(t any) bool {
	for _, e := range b {
		if errors.As(e, t) {
			return true
		}
	}
	return false
}

func TestExplain(t *testing.T) {
	ue := func(u string, err error) error { return &url.Error{Op: "Get", URL: u, Err: err} }
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	mismatch := ue("https://r.example/v2/", http.ErrSchemeMismatch)
	for _, tc := range []struct {
		name string
		err  error
		want string // prefix of the message after "r.example: "; "" = unchanged
	}{
		{"unknown authority", ue("https://r.example/v2/", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "TLS certificate not trusted"},
		{"bare hostname error", fmt.Errorf("ping: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "r.example"}), "TLS certificate not trusted"},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, "TLS certificate not trusted"},
		{"refused", ue("https://r.example/v2/", dial(os.NewSyscallError("connect", syscall.ECONNREFUSED))), "registry unreachable"},
		{"no such host", ue("https://r.example/v2/", dial(&net.DNSError{Err: "no such host", Name: "r.example", IsNotFound: true})), "registry unreachable"},
		{"read deadline", ue("https://r.example/v2/", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}), "registry unreachable"},
		{"refused behind the https error", both{mismatch, ue("http://r.example/v2/", dial(syscall.ECONNREFUSED))}, "registry unreachable"},
		{"plain HTTP refused", &PlainHTTPError{Host: "r.example"}, "plain HTTP to r.example refused"},
		{"plain HTTP registry", mismatch, "registry speaks plain HTTP"},
		{"plain HTTP tried and failed", both{mismatch, ue("http://r.example/v2/", errors.New("EOF"))}, ""},
		{"cancelled", context.Canceled, ""},
		{"other", errors.New("something else"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := explain("r.example", nil, tc.err)
			var ex *explained
			if tc.want == "" {
				if errors.As(got, &ex) || got.Error() != tc.err.Error() {
					t.Fatalf("explain(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			// (Error lists are not comparable: the wrapped error is
			// told by its text.)
			if !strings.HasPrefix(got.Error(), "r.example: "+tc.want) || !errors.As(got, &ex) || ex.err.Error() != tc.err.Error() {
				t.Fatalf("explain(%v) = %q, want %q... wrapping it", tc.err, got, tc.want)
			}
		})
	}
}

// TestExplainRealTLS: the error a TLS handshake with an untrusted
// certificate really gives is explained.
func TestExplainRealTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := http.Get(srv.URL)
	if err == nil {
		t.Fatal("no error from an untrusted certificate")
	}
	if got := explain("r.example", nil, err).Error(); !strings.HasPrefix(got, "r.example: TLS certificate not trusted") {
		t.Fatalf("explain: %q", got)
	}
}
