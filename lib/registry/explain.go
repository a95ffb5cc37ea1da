package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// explain adds the fix to errors a user can act on, keeping the error
// chain (retries look into it).
func explain(host string, certs *certStore, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case anyError(err, func(e error) bool { _, ok := e.(*RealmError); return ok }):
		// It names the registry, the realm and the fix; the handshake's
		// https and http errors are lists errors.As does not walk.
		var re *RealmError
		anyError(err, func(e error) bool { re, _ = e.(*RealmError); return re != nil })
		return re
	case anyError(err, isCertDirError), untrusted(err), tlsRefused(err):
		return &explained{host + ": " + explainTLS(host, certs, err), err}
	case unreachable(err):
		return &explained{fmt.Sprintf("%s: registry unreachable (%s); fix: check the host, port and network", host, firstLine(err.Error())), err}
	case errors.Is(err, ErrPlainHTTP):
		return &explained{fmt.Sprintf("%s: %s; fix: make the registry answer HTTPS, or pass --src-tls-verify=false / --dest-tls-verify=false if it speaks only plain HTTP", host, firstLine(err.Error())), err}
	case errors.Is(err, http.ErrSchemeMismatch) && !plainFailed(err):
		// Only when the plain HTTP attempt was not made or did not fail for
		// another reason.
		return &explained{fmt.Sprintf("%s: registry speaks plain HTTP; fix: pass --src-tls-verify=false or --dest-tls-verify=false for it", host), err}
	}
	return err
}

type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// explainTLS is the one line of a TLS failure with host, registry or
// download server: what failed, the certs.d folders looked in, the fix.
func explainTLS(host string, certs *certStore, err error) string {
	var cde *CertDirError
	if anyError(err, func(e error) bool { cde, _ = e.(*CertDirError); return cde != nil }) {
		return cde.Error()
	}
	looked, into := "", "the host's certs.d folder"
	if certs != nil {
		looked, into = "; certs.d: "+certs.describe(host), certs.into(host)
	}
	if untrusted(err) {
		return fmt.Sprintf("TLS certificate not trusted (%s)%s; fix: put its CA (PEM) as a .crt file in %s or in a folder given by --src-cert-dir/--dest-cert-dir, add it to SSL_CERT_FILE, or pass --src-tls-verify=false / --dest-tls-verify=false for this registry", firstLine(err.Error()), looked, into)
	}
	return fmt.Sprintf("TLS handshake refused by the server (%s), it may require a client certificate%s; fix: put the client certificate and its key as NAME.cert and NAME.key in %s or in a folder given by --src-cert-dir/--dest-cert-dir", firstLine(err.Error()), looked, into)
}

func isCertDirError(e error) bool { _, ok := e.(*CertDirError); return ok }

// tlsRefused: the server answered the TLS handshake with an alert (a
// client certificate missing or not accepted, most often). crypto/tls
// reports alerts from the peer as a net.OpError of Op "remote error".
func tlsRefused(err error) bool {
	return anyError(err, func(e error) bool {
		op, ok := e.(*net.OpError)
		return ok && op.Op == "remote error"
	})
}

// untrusted: the registry's certificate did not verify.
func untrusted(err error) bool {
	var (
		ve *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &ve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// unreachable: nothing answered at the registry's address (refused, no
// such host, timed out at the network level).
func unreachable(err error) bool {
	return anyError(err, func(e error) bool {
		switch e := e.(type) {
		case *net.DNSError:
			return e.IsNotFound || e.IsTimeout
		case *net.OpError:
			return e.Timeout() || errors.Is(e, syscall.ECONNREFUSED)
		}
		return errors.Is(e, syscall.ECONNREFUSED) || errors.Is(e, os.ErrDeadlineExceeded)
	})
}

// plainFailed: a plain HTTP request was made and failed (go-containerregistry's
// handshake tries https, then http, and returns both errors).
func plainFailed(err error) bool {
	return anyError(err, func(e error) bool {
		switch e := e.(type) {
		case *url.Error:
			u, perr := url.Parse(e.URL)
			return perr == nil && u.Scheme == "http"
		case *transport.Error:
			return e.Request != nil && e.Request.URL.Scheme == "http"
		}
		return false
	})
}

// anyError reports whether f holds for err or any error it wraps, through
// Unwrap() error, Unwrap() []error, and error lists that offer only Is and
// As (go-containerregistry's handshake returns its https and http errors
// as such a []error, and errors.As would stop at the first of them).
func anyError(err error, f func(error) bool) bool {
	if err == nil {
		return false
	}
	if f(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return anyError(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if anyError(e, f) {
				return true
			}
		}
		return false
	}
	if v := reflect.ValueOf(err); v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeFor[error]() {
		for i := range v.Len() {
			if e, _ := v.Index(i).Interface().(error); anyError(e, f) {
				return true
			}
		}
	}
	return false
}
