package kiln

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// The hop from origin to holder: httputil.ReverseProxy over a keep-alive
// transport. Request and response bodies stream (nothing is buffered);
// event streams and responses of unknown length are flushed as they come
// (server-sent events, long polls).
//
// Failures are judged by whether the holder could have run the handler:
//   - no connection to the holder (refused, unreachable), or its 421 "not
//     here": it did not; the origin serves the request itself, unless the
//     hop had already read from the request body (then 503: nothing was
//     applied, and a retry is safe). A request with a body is sent with
//     "Expect: 100-continue", so the holder gets the body only once it
//     serves the request.
//   - anything after the request went out (a reset, a timeout, a broken
//     response): it may have; 503 and a log line, never a retry. The
//     transport retries by itself only a request it wrote nothing of, or
//     one of a method HTTP calls safe (GET, HEAD, ...) on a reused
//     connection that failed before the response; the hop cancels that
//     second attempt, which then counts as may-or-may-not.

var errNotHere = errors.New("kiln: relay: the holder does not hold the lease")

type hopProxy struct {
	r     *relay
	proxy *httputil.ReverseProxy
}

func newHopProxy(r *relay) *hopProxy {
	h := &hopProxy{r: r}
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: r.m.cfg.LeaseRevokeTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
		// The holder answers a 421 or asks for the body once it has the
		// session's slot, which it waits for at most LeaseWait.
		ExpectContinueTimeout: r.m.cfg.LeaseWait + time.Second,
	}
	h.proxy = &httputil.ReverseProxy{
		// FlushInterval 0: ReverseProxy flushes event streams and responses
		// of unknown length as they come, and buffers the rest.
		Rewrite: h.rewrite, Transport: t, BufferPool: hopBuffers{},
		ModifyResponse: modifyResponse, ErrorHandler: h.failed,
		ErrorLog: slog.NewLogLogger(r.m.cfg.Logger.Handler(), slog.LevelWarn),
	}
	return h
}

// hopBuffers pools the buffers the proxy copies response bodies with.
type hopBuffers struct{}

var hopBufferPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (hopBuffers) Get() []byte  { return hopBufferPool.Get().(*[32 << 10]byte)[:] }
func (hopBuffers) Put(b []byte) { hopBufferPool.Put((*[32 << 10]byte)(b[:32<<10])) }

// hop is one relayed request's state, found through its context.
// It holds the hop's writer and client trace too, so that a relayed
// request costs one allocation for all three.
type hop struct {
	context.Context // the request's, cancelled when the hop ends; Value(hopKey{}) is the hop
	hopTarget
	in         *http.Request // as it arrived at the origin
	local      http.Handler
	body       *hopBody     // nil: the request has none
	conns      atomic.Int32 // connections the transport got for it
	replayable bool         // the transport would replay it on a second connection
	cancel     context.CancelFunc
	out        hopWriter
	trace      httptrace.ClientTrace
}

type hopKey struct{}

// Value makes the hop findable through its context without another layer.
func (hp *hop) Value(key any) any {
	if key == (hopKey{}) {
		return hp
	}
	return hp.Context.Value(key)
}

// forward relays req to node; if the holder cannot have run it, it is
// served by local.
func (h *hopProxy) forward(w http.ResponseWriter, req *http.Request, to hopTarget, local http.Handler) {
	hp := &hop{in: req, local: local, hopTarget: to, out: hopWriter{ResponseWriter: w}}
	if req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0 {
		hp.body = &hopBody{rc: req.Body}
	}
	var cancel context.CancelFunc
	hp.Context, cancel = context.WithCancel(req.Context())
	defer cancel()
	hp.cancel, hp.replayable = cancel, hp.body == nil && safeMethod(req)
	hp.trace.GotConn = hp.gotConn
	ctx := httptrace.WithClientTrace(hp, &hp.trace)
	out := &hp.out
	defer h.brokenResponse(hp, out)
	h.proxy.ServeHTTP(out, req.WithContext(ctx))
	if out.wrote {
		h.r.m.stats.relayed.Add(1)
	}
}

// gotConn counts the connections the transport got for the hop and
// cancels a second attempt of a request that may have run.
func (hp *hop) gotConn(httptrace.GotConnInfo) {
	if hp.conns.Add(1) > 1 && hp.replayable {
		hp.cancel() // the transport replays a request that may have run
	}
}

// brokenResponse logs a hop that broke while the holder's response was
// being copied: the client's connection is aborted (the status went out
// already), and the request may or may not have been applied.
func (h *hopProxy) brokenResponse(hp *hop, out *hopWriter) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler && out.wrote {
		h.r.m.stats.relayErrors.Add(1)
		h.r.m.cfg.Logger.Error("kiln: relay: the holder's response broke off; the client's connection is aborted, and the request may or may not have been applied",
			"node", hp.node, "method", hp.in.Method, "path", hp.in.URL.Path, "session", hp.fp)
	}
	panic(v)
}

// rewrite addresses the holder with the request as the client sent it:
// its original URI (the holder runs its whole handler chain again), its
// Host, and its forwarding headers unchanged (the hop is not a proxy the
// app should see; the client's address travels in Kiln-Relay instead).
func (h *hopProxy) rewrite(pr *httputil.ProxyRequest) {
	hp := pr.In.Context().Value(hopKey{}).(*hop)
	in, out := pr.In, pr.Out
	out.URL.Scheme, out.URL.Host = hp.peer.url.Scheme, hp.peer.url.Host
	if u, err := url.ParseRequestURI(in.RequestURI); err == nil && in.RequestURI != "" {
		out.URL.Path, out.URL.RawPath, out.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
	}
	out.Host = in.Host
	for _, name := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := in.Header[name]; ok {
			out.Header[name] = v
		}
	}
	f := hopFields{from: h.r.self, remoteAddr: in.RemoteAddr}
	if in.TLS != nil {
		f.tlsVersion, f.serverName = in.TLS.Version, in.TLS.ServerName
	}
	out.Header.Set(relayHeader, f.header(hp.peer.token))
	if hp.body != nil {
		out.Body, out.GetBody = hp.body, nil // no GetBody: never sent twice
		out.Header.Set("Expect", "100-continue")
	}
}

// safeMethod reports whether the transport would replay req (as a safe
// method, or one marked idempotent) after a failure on a reused connection.
func safeMethod(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// modifyResponse turns the holder's 421 "not here" into errNotHere.
func modifyResponse(resp *http.Response) error {
	if resp.StatusCode == http.StatusMisdirectedRequest && resp.Header.Get(relayHeader) == notHere {
		return errNotHere
	}
	resp.Header.Del(relayHeader)
	return nil
}

// failed handles a hop that did not bring a response back.
func (h *hopProxy) failed(w http.ResponseWriter, req *http.Request, err error) {
	hp := req.Context().Value(hopKey{}).(*hop)
	m := h.r.m
	notRun := errors.Is(err, errNotHere) || neverSent(hp, err)
	if isDial(err) {
		h.r.peers.down(hp.node)
	}
	switch {
	case notRun && (hp.body == nil || hp.body.keep()):
		m.stats.relayFallbacks.Add(1)
		hp.local.ServeHTTP(unwrapHop(w), hp.in)
	case notRun:
		m.fail(unwrapHop(w), hp.in, hp.fp, fmt.Errorf("%w: relay to node %s refused after it read part of the body; nothing was applied: %w", ErrUnavailable, hp.node, err))
	default:
		m.stats.relayErrors.Add(1)
		m.fail(unwrapHop(w), hp.in, hp.fp, fmt.Errorf("%w: relay to node %s failed after the request was sent; it may or may not have been applied: %w", ErrUnavailable, hp.node, err))
	}
}

// neverSent reports whether no byte of the request can have reached the
// holder: no connection was had, or the last attempt could not connect and
// the transport retried only because nothing had been written (it replays
// nothing else of a request that is not safeMethod or has a body).
func neverSent(hp *hop, err error) bool {
	n := hp.conns.Load()
	return n == 0 || (isDial(err) && !(hp.body == nil && safeMethod(hp.in)))
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// hopBody is the request body as the hop reads it; keep claims it for the
// origin only if the hop never read from it.
type hopBody struct {
	rc    io.ReadCloser
	state atomic.Int32 // 0 untouched, 1 read by the hop, 2 kept for the origin
}

var errBodyKept = errors.New("kiln: relay: request body taken back by the origin")

func (b *hopBody) Read(p []byte) (int, error) {
	if !b.state.CompareAndSwap(0, 1) && b.state.Load() != 1 {
		return 0, errBodyKept
	}
	return b.rc.Read(p)
}

// Close does not close the client's body: the origin may still serve it.
func (b *hopBody) Close() error { return nil }

func (b *hopBody) keep() bool { return b.state.CompareAndSwap(0, 2) }

// hopWriter is the client's ResponseWriter as the proxy writes it. The
// holder's response headers replace those of the same name that this
// node's outer handlers set before the request reached kiln (the holder
// ran the whole chain too: no header comes twice); the others stay. It
// drops the holder's "100 Continue" (this node's server sends its own to a
// client that asked, once the hop reads the body), and notes whether a
// final response came through.
type hopWriter struct {
	http.ResponseWriter
	h     http.Header // the holder's headers, until the status is written
	wrote bool
}

func (w *hopWriter) Header() http.Header {
	if w.wrote {
		return w.ResponseWriter.Header() // trailers go straight through
	}
	if w.h == nil {
		w.h = make(http.Header)
	}
	return w.h
}

func (w *hopWriter) WriteHeader(code int) {
	if code == http.StatusContinue {
		return
	}
	real := w.ResponseWriter.Header()
	for k, v := range w.h {
		real[k] = v
	}
	if code < 200 { // an informational response: its headers are its own
		w.ResponseWriter.WriteHeader(code)
		for k := range w.h {
			delete(real, k)
		}
		clear(w.h)
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *hopWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *hopWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func unwrapHop(w http.ResponseWriter) http.ResponseWriter {
	if hw, ok := w.(*hopWriter); ok {
		return hw.ResponseWriter
	}
	return w
}
