package natsengine

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// sessionKeys are n keys shaped like a session's records (a 43-character
// store key in "s.<k>.m", "t.<k>", "l.<k>", "s.<k>.a..."), each its own
// allocation, as the save path builds them.
func sessionKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("s.%043d.m", i)
	}
	return keys
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkDeadlines_Memory: the heap a deadlines table holds per key it
// remembers, key strings included (the table is what keeps them alive),
// after GC.
func BenchmarkDeadlines_Memory(b *testing.B) {
	const n = 200_000
	at := time.Unix(1_700_000_000, 0)
	var perKey float64
	for b.Loop() {
		keys := sessionKeys(n)
		before := heapInUse()
		d := new(deadlines)
		for i, k := range keys {
			d.note(k, uint64(i+1), at.Add(time.Duration(i)*time.Millisecond))
		}
		keys = nil
		after := heapInUse()
		perKey = float64(int64(after)-int64(before)+int64(n*(16+48))) / n
		runtime.KeepAlive(d)
	}
	// before counted the keys (a 48-byte string and its 16-byte header
	// in the slice each), which the table alone holds at after.
	b.ReportMetric(perKey, "bytes/key")
}

// BenchmarkDeadlines_Note: note and passed from two goroutines on
// distinct keys.
func BenchmarkDeadlines_Note(b *testing.B) {
	keys := sessionKeys(1 << 16)
	at := time.Unix(1_700_000_000, 0)
	d := new(deadlines)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			k := keys[i&(len(keys)-1)]
			d.note(k, uint64(i+1), at)
			d.passed(k, uint64(i+1), at)
			i++
		}
	})
}

func TestDeadlines_Passed(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	var d deadlines
	d.note("s.a.m", 5, at)
	for _, c := range []struct {
		key  string
		rev  uint64
		now  time.Time
		want bool
	}{
		{"s.a.m", 5, at.Add(-time.Millisecond), false},
		{"s.a.m", 5, at, true},
		{"s.a.m", 4, at, false}, // not the revision noted
		{"s.b.m", 5, at, false}, // never noted
	} {
		if got := d.passed(c.key, c.rev, c.now); got != c.want {
			t.Errorf("passed(%s, %d, at%+v) = %v, want %v", c.key, c.rev, c.now.Sub(at), got, c.want)
		}
	}
	d.note("s.a.m", 3, at.Add(time.Hour)) // older than the revision noted: ignored
	if !d.passed("s.a.m", 5, at) {
		t.Error("an older revision replaced the newer one's deadline")
	}
	d.note("s.a.m", 7, at.Add(time.Hour))
	if d.passed("s.a.m", 7, at) {
		t.Error("passed before the new revision's deadline")
	}
	d.forget("s.a.m")
	if d.passed("s.a.m", 7, at.Add(2*time.Hour)) {
		t.Error("passed after forget")
	}
}

// TestDeadlines_PruneBounded: what prune drops is gone, what it keeps
// still answers, and the table does not stay at its peak: after the
// deadlines of many keys have passed it holds only the live ones.
func TestDeadlines_PruneBounded(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	var d deadlines
	keys := sessionKeys(50_000)
	for i, k := range keys {
		d.note(k, uint64(i+1), at)
	}
	d.note("s.live.m", 1, at.Add(time.Hour))
	if n := d.len(); n != len(keys)+1 {
		t.Fatalf("%d entries, want %d", n, len(keys)+1)
	}
	d.prune(at.Add(expiryMargin)) // not yet acted on by the server
	if !d.passed(keys[7], 8, at.Add(expiryMargin)) {
		t.Fatal("prune dropped a deadline the server may not have acted on")
	}
	d.prune(at.Add(time.Minute))
	if n := d.len(); n != 1 {
		t.Fatalf("%d entries after prune, want 1", n)
	}
	if !d.passed("s.live.m", 1, at.Add(time.Hour)) {
		t.Fatal("prune dropped a live deadline")
	}
	if c := d.slots(); c > 1024 {
		t.Fatalf("%d slots held after prune left 1 entry: the table stays at its peak", c)
	}
}

// TestDeadlines_Concurrent: note, passed, forget and prune from several
// goroutines (run with -race).
func TestDeadlines_Concurrent(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	var d deadlines
	keys := sessionKeys(4096)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i, k := range keys {
				rev := uint64(i + 1)
				d.note(k, rev, at)
				d.passed(k, rev, at.Add(time.Second))
				if i%7 == g {
					d.forget(k)
				}
				if i%1000 == 0 {
					d.prune(at.Add(time.Duration(g) * time.Second))
				}
			}
		})
	}
	wg.Wait()
	d.prune(at.Add(time.Hour))
	if n := d.len(); n != 0 {
		t.Fatalf("%d entries after the last prune, want 0", n)
	}
}
