package demo

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
)

// failover is the proxy's transport: if the chosen node refuses the
// connection, it tries the others in turn. It retries only requests of
// which nothing was sent, so no request is ever applied twice.
type failover struct {
	base http.RoundTripper
	pool *pool
	log  *slog.Logger
}

// RoundTrip sends req to its node, or to the next ones if it is down.
func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := f.base.RoundTrip(req)
	for _, u := range f.pool.after(req.URL.Host) {
		if !retryable(req, err) {
			break
		}
		f.log.Warn("demo: proxy: node unreachable; trying the next", "down", req.URL.Host, "next", u.Host, "err", err)
		req = req.Clone(req.Context())
		req.URL.Host = u.Host
		resp, err = f.base.RoundTrip(req)
	}
	return resp, err
}

// retryable reports whether err means the node was not reached, and no
// byte of req's body went out.
func retryable(req *http.Request, err error) bool {
	var op *net.OpError
	if err == nil || !errors.As(err, &op) || op.Op != "dial" {
		return false
	}
	b, ok := req.Body.(*unsentBody)
	return req.Body == nil || (ok && !b.read.Load())
}

// unsentBody wraps a proxied request body: it records whether any of it
// was read, and ignores Close, so that a failed attempt leaves it intact
// for the next. The proxy closes the underlying body itself.
type unsentBody struct {
	io.ReadCloser
	read atomic.Bool
}

func (b *unsentBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.ReadCloser.Read(p)
}

// Close does nothing; see unsentBody.
func (b *unsentBody) Close() error { return nil }
