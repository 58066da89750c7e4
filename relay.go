package kiln

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kilnhq/kiln/internal/lease"
)

// Request relaying (Config.RelayURL, docs/leases.md "Relaying"): a request
// that lands on a node that does not hold its session's lease is forwarded
// over HTTP to the node that does, instead of moving the lease. The holder
// is the node the ID's ".<node>" suffix names (the last node that served
// the session re-suffixes it), so finding it costs no engine call; its URL
// and relay token come from its liveness record (relaypeers.go). The hop
// itself is relayhop.go.
//
// A relayed request carries the Kiln-Relay header with the holder's token.
// The holder serves it only if it holds the lease at the moment it has the
// session's request slot; otherwise it answers 421 with "Kiln-Relay:
// not-here" before reading the body or running the handler, and the origin
// serves the request itself, the normal way. A relayed request is never
// relayed again, and a Kiln-Relay header the holder cannot verify (a
// client forged it) only turns relaying off for that request.

const (
	relayHeader = "Kiln-Relay" // on a relayed request: the hop's fields; on a 421: notHere
	notHere     = "not-here"
)

// relay is a Manager's side of relaying, both as origin and as holder.
type relay struct {
	m     *Manager
	self  string
	peers *peers
	hop   *hopProxy
}

func newRelay(m *Manager) *relay {
	r := &relay{m: m, self: m.cfg.Node}
	r.peers = newPeers(m)
	r.hop = newHopProxy(r)
	return r
}

// handler puts relaying in front of local, which serves requests here.
func (r *relay) handler(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if vals, sent := req.Header[relayHeader]; sent {
			req.Header.Del(relayHeader) // never seen by the app, never relayed on
			if h, ok := r.verify(vals); ok {
				r.serveRelayed(w, req, h, local)
				return
			}
			local.ServeHTTP(w, req) // forged or stale: served here, not relayed
			return
		}
		if to, ok := r.target(req); ok {
			r.hop.forward(w, req, to, local)
			return
		}
		local.ServeHTTP(w, req)
	})
}

// hopTarget is where a request is relayed: the holder's name and what it
// advertises, and the session's fingerprint (for log lines).
type hopTarget struct {
	node, fp string
	peer     peer
}

// target returns the holder to relay req to, if it should be relayed: its
// session's ID names another node that advertises a URL, and this node
// does not hold the lease itself.
func (r *relay) target(req *http.Request) (hopTarget, bool) {
	if !relayable(req) {
		return hopTarget{}, false
	}
	base, node := firstID(r.m.idValues(req))
	if node == "" || node == r.self {
		return hopTarget{}, false
	}
	k := storeKey(base)
	if r.m.leases.HeldHere(k) {
		return hopTarget{}, false
	}
	p, ok := r.peers.get(req.Context(), node)
	return hopTarget{node: node, fp: k[:8], peer: p}, ok
}

// relayable reports whether the hop can carry req: not an upgrade
// (WebSocket) nor CONNECT, no TLS client certificate, and a body nobody in
// front of kiln has consumed already (a parsed form).
func relayable(req *http.Request) bool {
	switch {
	case req.Method == http.MethodConnect, req.Header.Get("Upgrade") != "":
		return false
	case req.TLS != nil && len(req.TLS.PeerCertificates) > 0:
		return false
	case req.MultipartForm != nil, req.PostForm != nil && req.ContentLength != 0:
		return false
	}
	return true
}

// firstID returns the random part and the node suffix of the first
// well-formed ID among the request's candidates: the one load tries first.
func firstID(header, cookie []string) (base, node string) {
	for _, vals := range [2][]string{header, cookie} { // candidates' order, without the copy
		for _, v := range vals {
			if b, n, ok := parseID(v); ok {
				return b, n
			}
		}
	}
	return "", ""
}

// hopFields is what a relayed request says about itself, as the origin
// received it: the client's address and TLS state.
type hopFields struct {
	from, remoteAddr string
	tlsVersion       uint16 // 0: plain HTTP
	serverName       string
}

// header encodes f for the holder whose token is token.
func (f hopFields) header(token string) string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	return strings.Join([]string{token, f.from, dash(f.remoteAddr), strconv.Itoa(int(f.tlsVersion)), dash(f.serverName)}, " ")
}

// verify parses a request's Kiln-Relay header; ok is false unless it is
// one well-formed value carrying this node's token.
func (r *relay) verify(vals []string) (hopFields, bool) {
	if len(vals) != 1 {
		return hopFields{}, false
	}
	var f [5]string
	if !splitFields(vals[0], &f) || subtle.ConstantTimeCompare([]byte(f[0]), []byte(r.m.leases.RelayToken())) != 1 {
		return hopFields{}, false
	}
	v, err := strconv.ParseUint(f[3], 10, 16)
	if err != nil || !validNode(f[1]) {
		return hopFields{}, false
	}
	undash := func(s string) string { return strings.TrimPrefix(s, "-") }
	return hopFields{from: f[1], remoteAddr: undash(f[2]), tlsVersion: uint16(v), serverName: undash(f[4])}, true
}

// splitFields splits s at single spaces into exactly len(f) fields, as
// strings.Split would, without allocating; false if the count differs.
func splitFields(s string, f *[5]string) bool {
	for i := range len(f) - 1 {
		var ok bool
		if f[i], s, ok = strings.Cut(s, " "); !ok {
			return false
		}
	}
	f[len(f)-1] = s
	return !strings.Contains(s, " ")
}

// serveRelayed serves a request another node relayed here, if this node
// holds its session's lease once it has the session's slot; else it
// answers 421 "not here" without reading the body or running anything.
func (r *relay) serveRelayed(w http.ResponseWriter, req *http.Request, f hopFields, local http.Handler) {
	header, cookie := r.m.idValues(req)
	base, _ := firstID(header, cookie)
	if base == "" {
		local.ServeHTTP(w, req) // nothing to hold: nothing to refuse
		return
	}
	k := storeKey(base)
	e, err := r.m.leases.AcquireHeld(req.Context(), k)
	switch {
	case errors.Is(err, lease.ErrNotHeld):
		r.m.stats.relayNotHere.Add(1)
		w.Header().Set(relayHeader, notHere)
		w.WriteHeader(http.StatusMisdirectedRequest)
		return
	case err != nil:
		r.m.fail(w, req, k[:8], fmt.Errorf("%w: relayed request: %w", ErrUnavailable, err))
		return
	}
	r.m.stats.relayServed.Add(1)
	h := &heldLease{e: e, header: header, cookie: cookie, base: base}
	defer func() {
		if h.taken.CompareAndSwap(false, true) {
			r.m.leases.Release(e) // the handler chain never loaded the session
		}
	}()
	local.ServeHTTP(w, f.restore(req.WithContext(context.WithValue(req.Context(), heldKey{}, h))))
}

// restore gives req the client's address and TLS state as the origin saw
// them, so that the handler sees what it would have seen there.
func (f hopFields) restore(req *http.Request) *http.Request {
	if f.remoteAddr != "" {
		req.RemoteAddr = f.remoteAddr
	}
	req.TLS = nil
	if f.tlsVersion != 0 {
		req.TLS = &tls.ConnectionState{Version: f.tlsVersion, HandshakeComplete: true, ServerName: f.serverName}
	}
	return req
}

// validRelayURL reports whether s is a base URL relaying can use.
func validRelayURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil && u.Fragment == ""
}
