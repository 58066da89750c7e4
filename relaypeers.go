package kiln

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnhq/kiln/internal/lease"
)

// What an origin knows of the other nodes for relaying: the URL and token
// each advertises in its liveness record, read when first needed and again
// every LivenessTTL/3 (in the background, the old answer serving
// meanwhile). Requests are relayed only to URLs read from there.

// peer is a node relaying can reach; the zero peer cannot be relayed to.
type peer struct {
	url   *url.URL
	token string
}

type peers struct {
	m   *Manager
	ttl time.Duration

	mu    sync.Mutex // guards known
	known map[string]*peerState
}

// peerState is one node's last lookup. ready is closed once the first one
// ended; p, until and refreshing are guarded by peers.mu after that.
type peerState struct {
	ready      chan struct{}
	p          peer
	ok         bool
	until      time.Time
	refreshing bool
}

func newPeers(m *Manager) *peers {
	return &peers{m: m, ttl: m.cfg.LivenessTTL / 3, known: make(map[string]*peerState)}
}

// get returns node's peer, if it advertises a URL relaying can use.
func (ps *peers) get(ctx context.Context, node string) (peer, bool) {
	ps.mu.Lock()
	st, found := ps.known[node]
	if !found {
		st = &peerState{ready: make(chan struct{})}
		ps.known[node] = st
		ps.mu.Unlock()
		ps.lookup(node, st)
	} else {
		ps.mu.Unlock()
	}
	select {
	case <-st.ready:
	case <-ctx.Done():
		return peer{}, false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.m.now().Before(st.until) && !st.refreshing {
		st.refreshing = true
		go ps.lookup(node, st)
	}
	return st.p, st.ok
}

// down marks node unreachable until its next lookup: a hop to it could not
// connect.
func (ps *peers) down(node string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if st, found := ps.known[node]; found && isClosed(st.ready) {
		st.ok = false
	}
}

// lookup reads node's liveness record into st. A failure to read counts as
// "not advertised" until the next lookup: requests are served here meanwhile.
func (ps *peers) lookup(node string, st *peerState) {
	ctx, cancel := ps.m.engineCtx(context.Background())
	defer cancel()
	lp, ok, err := ps.m.leases.LookupPeer(ctx, node)
	p, usable := parsePeer(lp)
	if err != nil {
		ps.m.cfg.Logger.Warn("kiln: relay: cannot read a node's liveness record; serving its sessions here", "node", node, "err", err)
	}
	ps.mu.Lock()
	st.p, st.ok, st.until, st.refreshing = p, ok && usable && err == nil, ps.m.now().Add(ps.ttl), false
	first := !isClosed(st.ready)
	ps.mu.Unlock()
	if first {
		close(st.ready)
	}
}

func parsePeer(lp lease.Peer) (peer, bool) {
	if lp.URL == "" || lp.Token == "" || !validRelayURL(lp.URL) {
		return peer{}, false
	}
	u, err := url.Parse(lp.URL)
	if err != nil {
		return peer{}, false
	}
	return peer{url: u, token: lp.Token}, true
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// heldLease is the lease slot a holder took for a relayed request before
// its handler chain ran; the request's load takes it over (takeHeld). It
// keeps what the holder read to find the session (the ID values, the first
// ID's random part; e.Key() is its store key), so that the load neither
// parses the cookie nor hashes the ID again.
type heldLease struct {
	e              *lease.Entry
	taken          atomic.Bool
	header, cookie []string
	base           string
}

type heldKey struct{}

// relayedHeld returns the slot a relayed request's holder took, or nil
// for any other request.
func relayedHeld(ctx context.Context) *heldLease {
	h, _ := ctx.Value(heldKey{}).(*heldLease)
	return h
}

// idValues returns r's ID values (Manager.idValues), as the holder read
// them if h is a relayed request's slot.
func (h *heldLease) idValues(m *Manager, r *http.Request) (header, cookie []string) {
	if h == nil {
		return m.idValues(r)
	}
	return h.header, h.cookie
}

// keyOf returns storeKey(base), without hashing again the ID h was taken
// for.
func (h *heldLease) keyOf(base string) string {
	if h != nil && base == h.base {
		return h.e.Key()
	}
	return storeKey(base)
}

// takeHeld returns the slot a relayed request's holder took for session
// k, once; nil if there is none (any other request).
func takeHeld(ctx context.Context, k string) *lease.Entry {
	h := relayedHeld(ctx)
	if h == nil || h.e.Key() != k || !h.taken.CompareAndSwap(false, true) {
		return nil
	}
	return h.e
}
