package natsengine

import (
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// A value's TTL is logical: the engine writes it in the Kiln-TTL header
// (milliseconds) and judges it on reads, while the server's own TTL
// (Nats-TTL) runs expiryMargin longer, rounded up to whole seconds. The
// margin keeps every write the engine sends away from the moment the
// server expires the value it replaces: on a replicated stream the
// server, expiring a value it finds to be the key's last message,
// proposes an expiry marker with a subject rollup, and a write proposed
// just before that marker, not yet applied when the server looked, is
// purged by it although it was acknowledged
// (docs/upstream/nats-expiry-marker.md). So a compare-and-set on a
// revision whose logical TTL has run out must never reach the server:
// each shard remembers the deadline of the revisions this client wrote or
// read (deadlines), and Commit refuses such a condition as a conflict,
// as it would be once the server has removed the value: before its first
// publish and before each retry of a publish the server did not take.

// expiryMargin is how much longer than the logical TTL the server keeps
// a value: far more than a write takes from the client's check to the
// server's apply, and more than the round trip the server clock estimate
// may lag.
const expiryMargin = 3 * time.Second

// hdrLogicalTTL carries a value's logical TTL in milliseconds.
const hdrLogicalTTL = "Kiln-TTL"

// valueTTLHeaders sets the TTL headers of a value written with ttl.
func valueTTLHeaders(h nats.Header, ttl time.Duration) {
	h.Set(hdrLogicalTTL, strconv.FormatInt(ttl.Milliseconds(), 10))
	h.Set(hdrTTL, ttlHeader(ttl+expiryMargin))
}

// logicalTTL is the TTL a stored value was written with: Kiln-TTL, or
// Nats-TTL for a value written without it; 0 for none.
func logicalTTL(h nats.Header) time.Duration {
	if ms, err := strconv.ParseInt(h.Get(hdrLogicalTTL), 10, 64); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	if d, err := time.ParseDuration(h.Get(hdrTTL)); err == nil && d > 0 {
		return d
	}
	return 0
}

// deadlines are the logical deadlines, on the server's clock, of the
// latest revision of keys this client wrote or read with a TTL. It is
// safe for concurrent use.
type deadlines struct {
	mu sync.Mutex             // guards m
	m  map[string]keyDeadline // key → its latest known revision with a TTL
}

type keyDeadline struct {
	rev uint64
	at  time.Time
}

// note records that key's revision rev expires at at.
func (d *deadlines) note(key string, rev uint64, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = make(map[string]keyDeadline)
	}
	if cur, ok := d.m[key]; !ok || cur.rev <= rev {
		d.m[key] = keyDeadline{rev: rev, at: at}
	}
}

// forget drops key: its latest revision has no TTL, or is gone.
func (d *deadlines) forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, key)
}

// passed reports whether key's revision rev is known to have run out by
// now.
func (d *deadlines) passed(key string, rev uint64, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, ok := d.m[key]
	return ok && cur.rev == rev && !now.Before(cur.at)
}

// prune drops the deadlines that the server has acted on by now: the
// value is removed, so the server refuses a condition on it by itself.
func (d *deadlines) prune(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, v := range d.m {
		if now.Sub(v.at) > expiryMargin+2*time.Second {
			delete(d.m, k)
		}
	}
}
