package kiln_test

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine/memengine"
)

// BenchmarkNearCache_Memory reports the heap a node's near cache takes per
// cached session holding one attribute of 1 KB (B/session), and what
// Stats.CachedBytes counts for it (accounted-B/session). Method: create
// the same sessions twice on memengine, once with leases and a near cache
// that holds them all and once with NoLeases (no cache); the difference of
// the live heaps after a collection, divided by the sessions, is the
// cache's cost, plus memengine's for the lease records (an upper bound).
// Run: go test -run XXX -bench NearCache_Memory -benchtime 1x .
//
// With -args -nearcache.heapprofile=F it also writes the heap profiles of
// both runs at the point they are measured, every allocation sampled: F
// (with the cache) and F.bare; compare them with
// go tool pprof -sample_index=inuse_space -base F.bare -top F
// (a -memprofile is written after the sessions are gone).
func BenchmarkNearCache_Memory(b *testing.B) {
	const n = 20_000
	if *nearCacheHeapProfile != "" {
		defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1
	}
	value := bytes.Repeat([]byte("x"), 1024)
	for range b.N {
		cached, accounted := heapWithSessions(b, n, false, value)
		bare, _ := heapWithSessions(b, n, true, value)
		b.ReportMetric((float64(cached)-float64(bare))/n, "B/session")
		b.ReportMetric(float64(accounted)/n, "accounted-B/session")
	}
}

var nearCacheHeapProfile = flag.String("nearcache.heapprofile", "", "BenchmarkNearCache_Memory writes the heap profiles at its measurements to this file and to it plus .bare")

// heapWithSessions creates n sessions on a Manager whose near cache holds
// room for them all (or none, with noLeases) and returns the live heap
// while they exist, and the bytes the cache accounts for.
func heapWithSessions(b *testing.B, n int, noLeases bool, value []byte) (heap uint64, accounted int64) {
	// A fake clock: memengine's TTL timers on the real clock would keep
	// this run's records reachable during the next run's measurement.
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	eng := memengine.New(memengine.Options{Clock: clk})
	defer eng.Close()
	cfg := kiln.DefaultConfig()
	cfg.Clock = clk
	cfg.Node, cfg.CacheBytes, cfg.NoLeases, cfg.Logger = "n1", 1<<30, noLeases, quietLogger
	m, err := kiln.New(eng, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := kiln.FromContext(r.Context()).Put("v", value); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	for range n {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	writeHeapProfile(b, noLeases)
	return ms.HeapAlloc, m.Stats().CachedBytes
}

// writeHeapProfile writes the heap profile -nearcache.heapprofile asks for.
func writeHeapProfile(b *testing.B, bare bool) {
	name := *nearCacheHeapProfile
	if name == "" {
		return
	}
	if bare {
		name += ".bare"
	}
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}
