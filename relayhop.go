package kiln

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// The hop from origin to holder: one request over a keep-alive transport,
// written here rather than through httputil.ReverseProxy (relaycopy.go:
// one header copy, one client trace, a pooled copy buffer). Request and
// response bodies stream (nothing is buffered); event streams and
// responses of unknown length are flushed as they come (server-sent
// events, long polls).
//
// Failures are judged by whether the holder could have run the handler:
//   - no connection to the holder (refused, unreachable), or its 421 "not
//     here": it did not; the origin serves the request itself, unless the
//     hop had already read from the request body (then 503: nothing was
//     applied, and a retry is safe). A request with a body is sent with
//     "Expect: 100-continue", so the holder gets the body only once it
//     serves the request.
//   - anything after the request went out (a reset, a timeout, a broken
//     response): it may have; 503 and a log line, never a retry. Kiln's
//     own connections (relayconn.go) never send a request twice;
//     http.Transport, which carries requests with a body, retries by
//     itself only a request it wrote nothing of, or one of a method HTTP
//     calls safe (GET, HEAD, ...) on a reused connection that failed
//     before the response; the hop cancels that second attempt, which
//     then counts as may-or-may-not.

var errNotHere = errors.New("kiln: relay: the holder does not hold the lease")

type hopProxy struct {
	r  *relay
	rt http.RoundTripper // a *hopConns; tests inject faults here
}

func newHopProxy(r *relay) *hopProxy {
	dial := (&net.Dialer{Timeout: r.m.cfg.LeaseRevokeTimeout, KeepAlive: 30 * time.Second}).DialContext
	const maxIdle, idleFor = 512, 90 * time.Second
	next := &http.Transport{
		DialContext: dial, MaxIdleConnsPerHost: maxIdle, IdleConnTimeout: idleFor,
		// The holder answers a 421 or asks for the body once it has the
		// session's slot, which it waits for at most LeaseWait.
		ExpectContinueTimeout: r.m.cfg.LeaseWait + time.Second,
		// The holder sees the client's Accept-Encoding, not one the hop
		// added, and its response passes through as it was encoded.
		DisableCompression: true,
	}
	return &hopProxy{r: r, rt: &hopConns{dial: dial, next: next, maxIdle: maxIdle, idleFor: idleFor, idle: make(map[string][]*hopConn)}}
}

// closeIdle closes the hop's idle connections (Manager.Close).
func (h *hopProxy) closeIdle() {
	if hc, ok := h.rt.(*hopConns); ok {
		hc.shutdown()
	} else if c, ok := h.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// hopBufferPool pools the buffers response bodies are copied with.
var hopBufferPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

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

	mu       sync.Mutex // guards returned, and out before the final response
	returned bool       // the round trip returned: no more informational responses
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
	hp.trace.GotConn, hp.trace.Got1xxResponse = hp.gotConn, hp.got1xx
	out := &hp.out
	defer h.brokenResponse(hp, out)
	h.roundTrip(httptrace.WithClientTrace(hp, &hp.trace), hp)
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

// safeMethod reports whether the transport would replay req (as a safe
// method, or one marked idempotent) after a failure on a reused connection.
func safeMethod(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// failed handles a hop that did not bring a response back.
func (h *hopProxy) failed(hp *hop, err error) {
	m, w := h.r.m, hp.out.ResponseWriter
	notRun := errors.Is(err, errNotHere) || neverSent(hp, err)
	if isDial(err) && hp.Err() == nil { // a dial the client's leaving (or the hop) cancelled says nothing of the holder
		h.r.peers.down(hp.node)
	}
	switch {
	case notRun && (hp.body == nil || hp.body.keep()):
		m.stats.relayFallbacks.Add(1)
		hp.local.ServeHTTP(w, hp.in)
	case notRun:
		m.fail(w, hp.in, hp.fp, fmt.Errorf("%w: relay to node %s refused after it read part of the body; nothing was applied: %w", ErrUnavailable, hp.node, err))
	default:
		m.stats.relayErrors.Add(1)
		m.fail(w, hp.in, hp.fp, fmt.Errorf("%w: relay to node %s failed after the request was sent; it may or may not have been applied: %w", ErrUnavailable, hp.node, err))
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

// hopWriter is the client's ResponseWriter as the hop writes it: it notes
// whether the holder's final response came through.
type hopWriter struct {
	http.ResponseWriter
	wrote bool
}

// respond writes the holder's final status and headers. They replace
// those of the same name that this node's outer handlers set before the
// request reached kiln (the holder ran the whole chain too: no header
// comes twice); the others stay.
func (w *hopWriter) respond(code int, h http.Header) {
	real := w.ResponseWriter.Header()
	for k, v := range h {
		real[k] = v
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

// informational passes on the holder's 1xx response but its "100
// Continue" (this node's server sends its own to a client that asked, once
// the hop reads the body). Its headers are its own: they are sent with it,
// then removed.
func (w *hopWriter) informational(code int, h http.Header) {
	if code == http.StatusContinue {
		return
	}
	real := w.ResponseWriter.Header()
	for k, v := range h {
		real[k] = v
	}
	w.ResponseWriter.WriteHeader(code)
	for k := range h {
		delete(real, k)
	}
}
