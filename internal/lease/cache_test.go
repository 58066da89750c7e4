package lease

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine/memengine"
)

// sized is a Snapshot of a given size.
type sized int

func (s sized) Size() int                            { return int(s) }
func (s sized) Revs() (uint64, uint64, time.Time)    { return 0, 0, time.Time{} }
func (s sized) WithTouch(uint64, time.Time) Snapshot { return s }

func cacheKey(i int) string { return fmt.Sprintf("%043d", i) }

// cachedKey reports whether session i is in the cache.
func (t *Table) cachedKey(i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entries[cacheKey(i)] != nil
}

// insert serves a request on session i that leaves a copy of size bytes.
func (t *Table) insert(i int, size int) {
	e := t.entry(cacheKey(i))
	e.lock(context.Background())
	t.Done(e, sized(size))
}

func (t *Table) listLens() (held, copies int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.held.n, t.copies.n
}

// newCacheTable starts a Table on memengine with its config changed by mod.
func newCacheTable(t testing.TB, mod func(*Config)) *Table {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { mem.Close() })
	peer := mem.Peer()
	cfg := testConfig(t, peer, clk)
	cfg.Messenger, cfg.SessionLive = peer, sessionLive
	mod(cfg)
	tb, err := Start(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Stop() })
	return tb
}

// TestCache_BytesBoundLRU: with CacheBytes the only bound (CacheSessions
// 0), the cache keeps as many sessions as fit, evicts exactly down to the
// bound (not below it), and evicts the least recently used first, where a
// request on an entry makes it recent again.
func TestCache_BytesBoundLRU(t *testing.T) {
	const size, fit = 1000, 50
	tb := newCacheTable(t, func(c *Config) { c.CacheSessions, c.CacheBytes = 0, fit*size })
	for i := range fit {
		tb.insert(i, size)
	}
	tb.insert(0, size) // 0 is now the most recently used
	for i := fit; i < fit+10; i++ {
		tb.insert(i, size)
	}
	if n, b := tb.Cached(); n != fit || b != fit*size {
		t.Fatalf("cached %d sessions, %d bytes; want exactly %d, %d", n, b, fit, fit*size)
	}
	if ev := tb.cfg.Counters.Evictions.Load(); ev != 10 {
		t.Fatalf("evictions = %d, want 10", ev)
	}
	if !tb.cachedKey(0) {
		t.Fatal("the entry used again was evicted")
	}
	for i := 1; i <= 10; i++ {
		if tb.cachedKey(i) {
			t.Fatalf("entry %d, among the least recently used, is still cached", i)
		}
	}
	for i := 11; i < fit+10; i++ {
		if !tb.cachedKey(i) {
			t.Fatalf("entry %d was evicted out of LRU order", i)
		}
	}
}

// TestCache_NoCountBound: CacheSessions 0 puts no bound on the number of
// sessions; a positive CacheSessions does.
func TestCache_NoCountBound(t *testing.T) {
	for _, tc := range []struct{ bound, want int }{{0, 500}, {100, 100}} {
		tb := newCacheTable(t, func(c *Config) { c.CacheSessions, c.CacheBytes = tc.bound, 1<<30 })
		for i := range 500 {
			tb.insert(i, 100)
		}
		if n, _ := tb.Cached(); n != tc.want {
			t.Fatalf("CacheSessions %d: %d cached, want %d", tc.bound, n, tc.want)
		}
	}
}

// TestCache_CopiesBeforeHeld: copies of sessions this node does not hold
// go before held sessions, however recently used; an entry in use is
// stepped over, not evicted.
func TestCache_CopiesBeforeHeld(t *testing.T) {
	tb := newCacheTable(t, func(c *Config) { c.CacheSessions, c.CacheBytes = 3, 1<<20 })
	inc := tb.live.incarnation()
	var inUse *Entry
	for i := range 2 { // 0 and 1 held, 0 in use
		e := tb.entry(cacheKey(i))
		e.lock(context.Background())
		tb.setOwned(e, inc)
		if i == 0 {
			inUse = e
		} else {
			tb.Done(e, sized(10))
		}
	}
	defer tb.Done(inUse, sized(10))
	tb.insert(2, 10) // a copy, more recent than the held ones
	tb.insert(3, 10) // past the bound: the copy 2 goes
	if tb.cachedKey(2) || !tb.cachedKey(0) || !tb.cachedKey(1) {
		t.Fatal("a held session was evicted before the copy")
	}
	tb.insert(4, 10) // past the bound, only held or new copies left: 0 is in use, 3 is a copy
	if !tb.cachedKey(0) {
		t.Fatal("the entry in use was evicted")
	}
	if tb.cachedKey(3) || !tb.cachedKey(1) {
		t.Fatal("held 1 evicted while copy 3 was cached")
	}
	if h, c := tb.listLens(); h != 2 || c != 1 {
		t.Fatalf("lists: %d held, %d copies; want 2, 1", h, c)
	}
}

// BenchmarkCache_InsertFull inserts into a full cache of n sessions: the
// cost per insert must not grow with n (eviction is O(1) amortised).
func BenchmarkCache_InsertFull(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tb := newCacheTable(b, func(c *Config) { c.CacheSessions, c.CacheBytes = 0, n*100 })
			for i := range n {
				tb.insert(i, 100)
			}
			b.ResetTimer()
			for i := range b.N {
				tb.insert(n+i, 100)
			}
		})
	}
}

// TestCache_EvictionDuringCreation: the cache filling up while a new
// session's first save is in flight (between Record and Adopt) does not
// cost it its lease: Adopt holds it under the incarnation Record wrote, so
// its eviction later frees the record instead of leaving it to be stolen.
func TestCache_EvictionDuringCreation(t *testing.T) {
	tb := newCacheTable(t, func(c *Config) { c.CacheSessions, c.CacheBytes = 2, 1<<20 })
	k := cacheKey(100)
	op, inc, err := tb.Record(k)
	if err != nil {
		t.Fatal(err)
	}
	op.IfNew = true
	for i := range 3 { // other requests fill the cache meanwhile
		tb.insert(i, 10)
	}
	revs, err := tb.cfg.Store.Commit(context.Background(), op)
	if err != nil {
		t.Fatal(err)
	}
	e := tb.Adopt(k, inc, revs[0])
	if !tb.owns(e, inc) || !tb.current(e) {
		t.Fatal("a session created while the cache was full is not held by its creator")
	}
	tb.Done(e, sized(10))
}

// holdAll makes sessions from..to-1 held by this node, each with a copy
// of size bytes, in that order (from least recently used).
func (t *Table) holdAll(from, to, size int) []*Entry {
	inc := t.live.incarnation()
	var es []*Entry
	for i := from; i < to; i++ {
		e := t.entry(cacheKey(i))
		e.lock(context.Background())
		t.setOwned(e, inc)
		t.Done(e, revved{size: size, metaRev: uint64(i + 1)})
		es = append(es, e)
	}
	return es
}

// revved is a Snapshot of a given size and meta revision.
type revved struct {
	size    int
	metaRev uint64
}

func (s revved) Size() int                            { return s.size }
func (s revved) Revs() (uint64, uint64, time.Time)    { return s.metaRev, 7, time.Time{} }
func (s revved) WithTouch(uint64, time.Time) Snapshot { return s }

// TestCache_StripHeldBeforeFreeing: past CacheBytes, held sessions lose
// their copies least recently used first and keep their leases, each then
// a Bare with the copy's revisions; past a quarter of CacheBytes in bare
// entries, the oldest bare entries are evicted; the bytes stay within the
// bound.
func TestCache_StripHeldBeforeFreeing(t *testing.T) {
	const size = 1000
	bound := 10 * size
	tb := newCacheTable(t, func(c *Config) { c.CacheSessions, c.CacheBytes = 0, bound })
	es := tb.holdAll(0, 10, size)
	tb.holdAll(100, 101, size) // one more: 0 and 1 lose their copies (1000 → bareSize each)
	inc := tb.live.incarnation()
	if !tb.owns(es[0], inc) || !tb.current(es[0]) {
		t.Fatal("the least recently used held session lost its lease with its copy")
	}
	if b, ok := es[0].snap.(*Bare); !ok || b.MetaRev != 1 || b.TouchRev != 7 {
		t.Fatalf("its snapshot is %#v, want a Bare with revisions 1, 7", es[0].snap)
	}
	if _, ok := es[2].snap.(revved); !ok {
		t.Fatal("a more recently used session lost its copy")
	}
	if n, b := tb.Cached(); n != 11 || b > bound {
		t.Fatalf("cached %d sessions, %d bytes; want 11 within %d", n, b, bound)
	}
	for i := 101; i < 120; i++ { // bare entries grow to their share
		tb.holdAll(i, i+1, size)
		if _, b := tb.Cached(); b > bound {
			t.Fatalf("%d bytes cached past the bound %d", b, bound)
		}
	}
	tb.mu.Lock()
	bare, bareN := tb.bareBytes, tb.bare.n
	tb.mu.Unlock()
	if bare > bound/bareShare || bareN != bound/bareShare/bareSize {
		t.Fatalf("%d bare entries, %d bytes; want %d within a quarter of %d", bareN, bare, bound/bareShare/bareSize, bound)
	}
	copies := (bound - bareN*bareSize) / size
	for i := range 120 { // the most recent: copies, then bare entries; the rest gone
		if want := i >= 120-copies-bareN; tb.cachedKey(i) != want {
			t.Fatalf("session %d cached %v, want %v (%d copies, %d bare): not least recently used first", i, !want, want, copies, bareN)
		}
	}
	if s, h := tb.cfg.Counters.Stripped.Load(), tb.cfg.Counters.Evictions.Load(); s < 19 || h <= s {
		t.Fatalf("stripped %d, evictions %d: want each held session stripped before it was freed", s, h)
	}
}

// BenchmarkCache_BareMemory reports the heap an entry that keeps a lease
// without a copy takes (B/entry), for bareSize.
func BenchmarkCache_BareMemory(b *testing.B) {
	const n = 50_000
	for range b.N {
		tb := newCacheTable(b, func(c *Config) { c.CacheSessions, c.CacheBytes = 0, 1<<40 })
		inc := tb.live.incarnation()
		before := liveHeap()
		for i := range n {
			e := tb.entry(cacheKey(i)) // its key, 43 bytes as the session layer's
			e.lock(context.Background())
			tb.setOwned(e, inc)
			tb.Done(e, &Bare{MetaRev: 1, TouchRev: 1})
		}
		after := liveHeap()
		b.ReportMetric(float64(after-before)/n, "B/entry")
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
