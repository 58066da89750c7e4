package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnhq/kiln"
)

// growthRow is one system at one step of a cost-growth test.
type growthRow struct {
	system         string
	step           int // live sessions or session bytes
	live           int // live sessions reached (a step's creation is bounded in time)
	res            loadResult
	ratio          float64 // req/s ÷ the ceiling's at the same step
	heapPerSession float64 // bytes of this process's heap per added session
	rssPerSession  float64 // bytes of the engine process's RSS per added session
	bytesPerWrite  float64
	// kiln: the app nodes' heap per added session (heap growth minus the
	// load generator's clients: near caches and engine clients), and the
	// near cache per cached session as Stats.CachedBytes accounts it;
	// the server's stored messages and bytes per added session.
	cachePerSession, accountedPerSession float64
	msgsPerSession, storedPerSession     float64
	created                              time.Duration
}

// runGrowth runs both cost-growth tests and returns their Markdown.
func runGrowth(ctx context.Context, systems []*system, o options) string {
	win := min(o.window, 3*time.Second)
	spec := loadSpec{users: o.users, warmup: min(o.warmup, 500*time.Millisecond), window: win, writeShare: 0.1}
	// Sizes first: past kiln's near-cache bound the live-sessions test
	// leaves the sticky nodes full, which would slow what runs after it.
	sizeSystems, liveSystems := []string{ceilingName, scsName, gorillaName, stickyName, rrName}, []string{ceilingName, scsName, gorillaName, stickyName}
	if o.memOnly {
		sizeSystems, liveSystems = nil, []string{ceilingName, scsName, stickyName}
	}
	sized := sessionSizes(ctx, pickSystems(systems, sizeSystems...), spec, parseInts(o.sizes))
	live := liveSessions(ctx, pickSystems(systems, liveSystems...), spec, parseInts(o.sessions), o.stepBudget, o.settle)
	return "\n## How cost grows with session size\n\n" + sizeTable(sized) + sizeNotes +
		"\n## How cost grows with live sessions\n\n" + liveTable(live) + liveNotes
}

func pickSystems(all []*system, names ...string) []*system {
	var out []*system
	for _, n := range names {
		for _, s := range all {
			if s.name == n {
				out = append(out, s)
			}
		}
	}
	return out
}

func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// liveSessions grows each system's live sessions step by step and measures
// throughput (users pick a random live session per request) and memory.
// A step stops creating sessions after budget; the system then runs with
// the sessions it has, and takes no further step. With settle > 0 each
// step then runs the load for settle and measures a second window,
// printed to stderr only.
func liveSessions(ctx context.Context, systems []*system, spec loadSpec, steps []int, budget, settle time.Duration) []growthRow {
	var rows []growthRow
	for _, s := range systems {
		var pool []*client
		for _, k := range steps {
			if ctx.Err() != nil {
				return rows
			}
			added := k - len(pool)
			if added <= 0 {
				continue
			}
			heap0, rss0 := heapInUse(), rssBytes(s.enginePID)
			cached0, msgs0 := s.cached(), s.stored(ctx)
			t0 := time.Now()
			more := populate(ctx, s, spec.users, len(pool), added, t0.Add(budget))
			if ctx.Err() != nil {
				return withRatios(rows) // interrupted: the step's pool is incomplete
			}
			pool = append(pool, more...)
			if len(more) == 0 {
				break // nothing created within the budget
			}
			row := growthRow{system: s.name, step: k, live: len(pool), created: time.Since(t0)}
			added = len(more)
			grown := float64(heapInUse() - heap0)
			row.heapPerSession = grown / float64(added)
			if s.enginePID != 0 {
				row.rssPerSession = float64(rssBytes(s.enginePID)-rss0) / float64(added)
			}
			if s.managers != nil {
				clients := float64(clientsHeap(pool[len(pool)-added:]))
				cached1, msgs1 := s.cached(), s.stored(ctx)
				if n := float64(cached1[0] - cached0[0]); n > 0 {
					row.accountedPerSession = float64(cached1[1]-cached0[1]) / n
					if added >= minMeasured {
						row.cachePerSession = (grown - clients) / float64(added)
					}
				}
				if msgs1[0] >= msgs0[0] && msgs1[1] >= msgs0[1] { // else the server could not tell
					row.msgsPerSession = float64(msgs1[0]-msgs0[0]) / float64(added)
					row.storedPerSession = float64(msgs1[1]-msgs0[1]) / float64(added)
				}
			}
			row.res = runRandom(ctx, s, spec, pool)
			rows = append(rows, row)
			if settle > 0 {
				printSettled(ctx, s, spec, pool, settle, row.res)
			}
			if row.live < k {
				fmt.Fprintf(os.Stderr, "bench: live sessions %-26s created %d of %d within the step budget %s: no further step\n", s.name, added, k-len(pool)+added, budget)
			}
			fmt.Fprintf(os.Stderr, "bench: live sessions %-26s %7d (created %d in %s)  %8.0f req/s  near cache %s/session (accounted %s)  server %.1f msgs, %s/session\n",
				s.name, k, added, row.created.Round(time.Millisecond), row.res.rate(), kb(row.cachePerSession), kb(row.accountedPerSession),
				row.msgsPerSession, kb(row.storedPerSession))
			if row.live < k {
				break
			}
		}
		s.forgetSessions()
	}
	return withRatios(rows)
}

// printSettled runs the load on pool for settle, then measures a window
// and prints its rate and p99 beside first's: the first window of a step
// starts right after its sessions were created, when the server has
// loaded none of its older message blocks (docs/scaling.md).
func printSettled(ctx context.Context, s *system, spec loadSpec, pool []*client, settle time.Duration, first loadResult) {
	spec.warmup = settle
	r := runRandom(ctx, s, spec, pool)
	fmt.Fprintf(os.Stderr, "bench: live sessions %-26s %7d  first window %8.0f req/s p99 %s; after %s more %8.0f req/s p99 %s\n",
		s.name, len(pool), first.rate(), ms(p99(first)), settle, r.rate(), ms(p99(r)))
}

// populate creates n sessions on s with one increment each, from
// `workers` goroutines, starting none after deadline; it returns the
// clients whose session it created.
func populate(ctx context.Context, s *system, workers, firstID, n int, deadline time.Time) []*client {
	hc := newHTTPClient(workers)
	defer hc.CloseIdleConnections()
	slab := make([]client, n) // one allocation for the step's clients, not n
	out := make([]*client, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil && time.Now().Before(deadline); i = int(next.Add(1)) - 1 {
				c := &slab[i]
				c.id = firstID + i
				_, _ = c.call(ctx, hc, s.urls[s.route(c)], "POST", "/incr")
				out[i] = c
			}
		}()
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(c *client) bool { return c == nil })
}

// runRandom is a load run in which every request goes to a random session
// of pool (no read-your-writes check: two users may share one).
func runRandom(ctx context.Context, s *system, spec loadSpec, pool []*client) loadResult {
	hc := newHTTPClient(spec.users)
	defer hc.CloseIdleConnections()
	return measure(ctx, s, spec, spec.users, func(_ int, w *window) loadResult {
		return driveRandom(ctx, s, hc, pool, spec.writeShare, w)
	})
}

func driveRandom(ctx context.Context, s *system, hc *http.Client, pool []*client, writeShare float64, w *window) loadResult {
	var r loadResult
	var anon client // record's client: no read-your-writes check here
	for ctx.Err() == nil && !w.over.Load() {
		c := pool[rand.IntN(len(pool))]
		method, path := "GET", "/read"
		if rand.Float64() < writeShare {
			method, path = "POST", "/incr"
		}
		measuring := w.on.Load()
		t0 := time.Now()
		_, err := c.call(ctx, hc, s.urls[s.route(c)], method, path)
		if measuring && !w.over.Load() {
			r.record(&anon, time.Since(t0), 0, method == "POST", err)
		}
	}
	return r
}

// sessionSizes pads every user's session to each size and measures
// throughput and the bytes written to the engine per increment (one small
// attribute changes; the padding does not).
func sessionSizes(ctx context.Context, systems []*system, spec loadSpec, sizes []int) []growthRow {
	var rows []growthRow
	for _, size := range sizes {
		for _, s := range systems {
			if ctx.Err() != nil {
				return withRatios(rows)
			}
			clients := padded(ctx, s, spec.users, size)
			res := runLoad(ctx, s, spec, clients)
			row := growthRow{system: s.name, step: size, res: res}
			if res.incrs > 0 {
				row.bytesPerWrite = float64(res.eng.bytes) / float64(res.incrs)
			}
			rows = append(rows, row)
			fmt.Fprintf(os.Stderr, "bench: session size %-26s %7d B  %8.0f req/s  %8.0f B/write  RYW mismatches %d\n",
				s.name, size, res.rate(), row.bytesPerWrite, res.ryw)
		}
	}
	return withRatios(rows)
}

// padded returns n clients whose sessions hold size bytes of padding.
func padded(ctx context.Context, s *system, n, size int) []*client {
	hc := newHTTPClient(n)
	defer hc.CloseIdleConnections()
	cs := newClients(n)
	for _, c := range cs {
		_, _ = c.call(ctx, hc, s.urls[s.route(c)], "POST", "/pad?bytes="+strconv.Itoa(size))
	}
	return cs
}

// withRatios sets each row's ratio to the ceiling's row of the same step.
func withRatios(rows []growthRow) []growthRow {
	ceil := map[int]float64{}
	for _, r := range rows {
		if r.system == ceilingName {
			ceil[r.step] = r.res.rate()
		}
	}
	for i, r := range rows {
		if c := ceil[r.step]; c > 0 {
			rows[i].ratio = r.res.rate() / c
		}
	}
	return rows
}

// minMeasured is the fewest sessions whose heap growth the growth table
// reports per session: below it, the heap's noise (a few MB) dominates.
const minMeasured = 10_000

// clientsHeap is the heap the load generator's clients cs take: measured
// by copying them (as populate allocates them, with the same cookie
// strings) and seeing the heap grow.
func clientsHeap(cs []*client) int64 {
	heap0 := heapInUse()
	slab := make([]client, len(cs))
	cp := make([]*client, len(cs))
	for i, c := range cs {
		if c == nil {
			continue
		}
		slab[i].id = c.id
		slab[i].cookies = strings.Clone(c.header())
		cp[i] = &slab[i]
	}
	grown := heapInUse() - heap0
	runtime.KeepAlive(cp)
	return grown
}

// heapInUse is this process's live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

func liveTable(rows []growthRow) string {
	var b strings.Builder
	b.WriteString("| system | live sessions | created in | × ceiling (same sessions) | p99 | errors | app heap / session | kiln nodes' heap / session (near cache, accounted) | engine RSS / session | kiln server: records, stored bytes / session | kiln: from memory, engine ops per request |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		cache, stored := "–", "–"
		switch {
		case r.cachePerSession != 0:
			cache = fmt.Sprintf("%s (%s)", kb(r.cachePerSession), kb(r.accountedPerSession))
		case r.accountedPerSession > 0:
			cache = fmt.Sprintf("– (%s)", kb(r.accountedPerSession))
		}
		if r.msgsPerSession > 0 {
			stored = fmt.Sprintf("%.2f, %s", r.msgsPerSession, kb(r.storedPerSession))
		}
		step := strconv.Itoa(r.step)
		if r.live < r.step {
			step = fmt.Sprintf("%d of %d (budget)", r.live, r.step)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %d | %s | %s | %s | %s | %s |\n", r.system, step, r.created.Round(100*time.Millisecond),
			r.ratio, ms(p99(r.res)), r.res.errs, kb(r.heapPerSession), cache, kbIf(r.rssPerSession, r.system != ceilingName), stored, kilnCell(r.res.kiln))
	}
	return b.String()
}

func sizeTable(rows []growthRow) string {
	var b strings.Builder
	b.WriteString("| system | session size | × ceiling (same size) | p99 | errors | RYW mismatches | bytes to the engine per increment |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		bw := "–"
		if r.system != ceilingName {
			bw = fmt.Sprintf("%.0f", r.bytesPerWrite)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %s | %d | %d | %s |\n", r.system, kb(float64(r.step)), r.ratio, ms(p99(r.res)), r.res.errs, r.res.ryw, bw)
	}
	return b.String()
}

func kilnCell(k kiln.Stats) string {
	if k.Requests == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f, %.2f", float64(k.FromMemory)/float64(k.Requests), float64(k.EngineOps)/float64(k.Requests))
}

func p99(r loadResult) time.Duration {
	s := append([]time.Duration(nil), r.lat...)
	sortDurations(s)
	return percentile(s, 99)
}

func kb(b float64) string {
	if b < 1024 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f KB", b/1024)
}

func kbIf(b float64, ok bool) string {
	if !ok {
		return "–"
	}
	return kb(b)
}

const liveNotes = `
Each step adds sessions (one increment each, from 64 workers: "created in" is the time that took,
bounded by -step-budget: a system that has not created them all by then runs with those it has,
"N of M (budget)", and takes no further step) and then runs the same 90/10 load, every request on a random live session. Systems run one after
another here, not interleaved: the ceiling of a step was measured minutes before the others, so
these ratios are noisier than the comparison's. Memory per session, each the growth over the
step divided by the sessions added: *app heap* is this process's live heap after a collection
(the app instances and the load generator's cookies; kiln's near cache lives here). *kiln nodes'
heap* is that growth minus the load generator's clients (measured by copying them): the near
caches and the engine clients' per-key state (natsengine remembers the TTL deadline of every key
it wrote, 50–70 B each) (not shown below 10,000 sessions: the heap's noise would dominate); in
parentheses what Stats.CachedBytes accounts per cached session (Config.CacheBytes bounds that sum,
default 256 MiB per node). *engine RSS* is the engine process's
resident memory: rough, especially for the JetStream file store, whose RSS includes caches;
kiln server runs with its default garbage-collector target, GOGC=50 unless the bench's
environment sets GOGC (docs/server.md).
*records, stored bytes* are the messages and bytes of the session bucket's streams (every record
is one message: meta, touch, lease, attribute; its subject, headers and value).
`

const sizeNotes = `
Every user's session holds the padding (in 16 KB attributes) plus the counter; only the counter
changes. Bytes per increment: for Redis, the value bytes of the SETs the store sends (scs and
boj/redistore write the whole encoded session); for kiln, the value bytes of its engine commits
(changed attributes, the session's meta record and lease records), divided by increments.
`
