package natsengine

import (
	"hash/maphash"
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
//
// A node remembers one for each of the ~4 records of every session it
// wrote or read within the sessions' idle timeout, so the table is kept
// small per key: an entry is a 128-bit hash of the key (the key string is
// not kept) and the revision and deadline, 32 bytes, in one of
// deadlineParts maps, each under its own mutex. Two keys collide with a
// probability of about n²/2¹²⁹ (n keys held), as the IDs' 128 random bits
// do; a collision would only make the check miss a deadline of one of
// them. A map is rebuilt when prune leaves it a quarter of the size it
// grew to: a Go map keeps its peak memory.
type deadlines struct {
	once  sync.Once
	seeds [2]maphash.Seed
	parts [deadlineParts]deadlinePart
}

// deadlineParts is how many maps (and mutexes) a deadlines table has.
const deadlineParts = 16

type deadlinePart struct {
	mu   sync.Mutex                  // guards m and peak
	m    map[deadlineKey]keyDeadline // key's hash → its latest known revision with a TTL
	peak int                         // the most entries m held since it was made
}

// deadlineKey is a key's 128-bit hash.
type deadlineKey [2]uint64

type keyDeadline struct {
	rev uint64
	at  int64 // Unix nanoseconds
}

// part returns key's hash and the part that holds it.
func (d *deadlines) part(key string) (deadlineKey, *deadlinePart) {
	d.once.Do(func() { d.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()} })
	h := deadlineKey{maphash.String(d.seeds[0], key), maphash.String(d.seeds[1], key)}
	return h, &d.parts[h[0]%deadlineParts]
}

// note records that key's revision rev expires at at.
func (d *deadlines) note(key string, rev uint64, at time.Time) {
	h, p := d.part(key)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[deadlineKey]keyDeadline)
	}
	if cur, ok := p.m[h]; !ok || cur.rev <= rev {
		p.m[h] = keyDeadline{rev: rev, at: at.UnixNano()}
	}
	p.peak = max(p.peak, len(p.m))
}

// forget drops key: its latest revision has no TTL, or is gone.
func (d *deadlines) forget(key string) {
	h, p := d.part(key)
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, h)
}

// passed reports whether key's revision rev is known to have run out by
// now.
func (d *deadlines) passed(key string, rev uint64, now time.Time) bool {
	h, p := d.part(key)
	p.mu.Lock()
	defer p.mu.Unlock()
	cur, ok := p.m[h]
	return ok && cur.rev == rev && now.UnixNano() >= cur.at
}

// prune drops the deadlines that the server has acted on by now: the
// value is removed, so the server refuses a condition on it by itself.
func (d *deadlines) prune(now time.Time) {
	horizon := now.Add(-(expiryMargin + 2*time.Second)).UnixNano()
	for i := range d.parts {
		d.parts[i].prune(horizon)
	}
}

// prune drops the deadlines before horizon, and rebuilds m if that left
// it a quarter of its peak.
func (p *deadlinePart) prune(horizon int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range p.m {
		if v.at < horizon {
			delete(p.m, k)
		}
	}
	if p.peak >= 64 && len(p.m) < p.peak/4 {
		m := make(map[deadlineKey]keyDeadline, len(p.m))
		for k, v := range p.m {
			m[k] = v
		}
		p.m, p.peak = m, len(m)
	}
}

// len is how many deadlines d holds.
func (d *deadlines) len() int {
	n := 0
	for i := range d.parts {
		p := &d.parts[i]
		p.mu.Lock()
		n += len(p.m)
		p.mu.Unlock()
	}
	return n
}

// slots is how many entries d's maps are sized for: the peak each grew
// to since it was last made.
func (d *deadlines) slots() int {
	n := 0
	for i := range d.parts {
		p := &d.parts[i]
		p.mu.Lock()
		n += p.peak
		p.mu.Unlock()
	}
	return n
}
