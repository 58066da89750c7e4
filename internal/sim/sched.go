package sim

import (
	"context"
	"net/http"
	"sort"
	"testing/synctest"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Run runs one seed. It must be called inside a testing/synctest bubble
// (synctest.Test): it moves the bubble's clock with time.Sleep.
func Run(cfg Config) *Result {
	w := newWorld(cfg)
	w.logf("seed %d: %d steps, faults %s", cfg.Seed, cfg.Steps, cfg.Faults)
	for range cfg.Steps {
		w.advance(w.pickDelay())
		w.act()
	}
	res := &Result{Cfg: cfg}
	w.quiesce(res)
	w.finalReads()
	w.expireAll()
	w.inspect(res)
	res.Stripped = w.stripped()
	w.teardown()
	res.Ops, res.Events, res.Times = w.hist.ops, w.hist.events, w.hist.times
	res.Schedule, res.Trace, res.SimTime = w.schedule, w.trace, w.since()
	return res
}

// advance moves simulated time by d, running the scheduled actions that
// fall due on the way; after each move every goroutine has settled.
func (w *world) advance(d time.Duration) {
	target := time.Now().Add(d)
	for {
		sort.SliceStable(w.events, func(i, j int) bool { return w.events[i].at.Before(w.events[j].at) })
		if len(w.events) == 0 || w.events[0].at.After(target) {
			break
		}
		ev := w.events[0]
		w.events = w.events[1:]
		w.sleepUntil(ev.at)
		ev.do()
		synctest.Wait()
	}
	w.sleepUntil(target)
}

func (w *world) sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
	synctest.Wait()
}

func (w *world) at(d time.Duration, do func()) {
	w.events = append(w.events, timed{at: time.Now().Add(d), do: do})
}

func (w *world) pickDelay() time.Duration {
	r := w.rng.Float64()
	switch {
	case r < 0.5:
		return time.Millisecond + w.dur(20*time.Millisecond)
	case r < 0.85:
		return 20*time.Millisecond + w.dur(280*time.Millisecond)
	}
	return 300*time.Millisecond + w.dur(1700*time.Millisecond)
}

// dur returns a random duration in [0, d).
func (w *world) dur(d time.Duration) time.Duration { return time.Duration(w.rng.Int64N(int64(d))) }

func (w *world) act() {
	r := w.rng.Float64()
	switch {
	case r < 0.15 && len(w.cfg.Faults) > 0:
		w.injectFault()
	case r < 0.165:
		w.goIdle()
	default:
		w.launch()
	}
}

// launch starts one request of a browser that has a free tab.
func (w *world) launch() {
	total := 0
	var free []*browser
	now := time.Now()
	for _, b := range w.brs {
		n := b.busy()
		total += n
		b.mu.Lock()
		idle := now.Before(b.idleUntil)
		b.mu.Unlock()
		if n < 2 && !idle {
			free = append(free, b)
		}
	}
	nodes := w.liveNodes()
	if total >= maxInFlight || len(free) == 0 || len(nodes) == 0 {
		return
	}
	b := free[w.rng.IntN(len(free))]
	kind := w.pickKind(b)
	n := w.pickNode(b, nodes)
	w.reqs.Add(1)
	go func() {
		defer w.reqs.Done()
		w.do(b, kind, n, false)
	}()
	synctest.Wait()
}

func (w *world) pickKind(b *browser) opKind {
	b.mu.Lock()
	fresh := b.cookie == ""
	b.mu.Unlock()
	if fresh && w.rng.Float64() < 0.7 {
		return opIncr
	}
	if w.rng.Float64() < b.readShare {
		return opRead
	}
	r := w.rng.IntN(100)
	incr, login := 70, 12
	if limited(w.cfg.Seed) {
		incr, login = 50, 32 // the per-principal limit is checked at login
	}
	switch {
	case r < incr:
		return opIncr
	case r < incr+login:
		return opLogin
	case r < incr+login+9:
		return opLogout
	}
	return opLogoutAll
}

// pickNode routes like a load balancer: sometimes by the cookie's node
// suffix (affinity), otherwise to any live node.
func (w *world) pickNode(b *browser, nodes []*nodeRun) *nodeRun {
	b.mu.Lock()
	cookie := b.cookie
	b.mu.Unlock()
	if _, suffix, ok := cut(cookie); ok && w.rng.Float64() < 0.3 {
		for _, n := range nodes {
			if n.slot.name == suffix {
				return n
			}
		}
	}
	return nodes[w.rng.IntN(len(nodes))]
}

func cut(id string) (string, string, bool) {
	for i := range len(id) {
		if id[i] == '.' {
			return id[:i], id[i+1:], true
		}
	}
	return id, "", false
}

// goIdle sends a browser away for long enough that its session must have
// expired when it comes back: an expire operation spans its absence.
func (w *world) goIdle() {
	var cand []*browser
	for _, b := range w.brs {
		b.mu.Lock()
		ok := b.inFlight == 0 && b.cookie != "" && b.lsidOf[idBase(b.cookie)] != "" && !time.Now().Before(b.idleUntil)
		b.mu.Unlock()
		if ok {
			cand = append(cand, b)
		}
	}
	if len(cand) == 0 {
		return
	}
	b := cand[w.rng.IntN(len(cand))]
	away := idleTimeout + touchInterval + 2*maxOffset + 4*time.Second
	o := w.expireOp(b)
	b.mu.Lock()
	b.idleUntil = time.Now().Add(away)
	b.mu.Unlock()
	w.logf("b%d goes away for %v (part %q)", b.id, away, o.Part)
	w.at(away, func() { w.endExpire(o) })
}

func (w *world) expireOp(b *browser) *Op {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &Op{Browser: b.id, Kind: opExpire, ID: b.cookie, Part: b.lsidOf[idBase(b.cookie)], Known: true,
		Call: w.hist.tick(), CallAt: w.since(), Status: http.StatusOK}
}

func (w *world) endExpire(o *Op) {
	o.Return, o.ReturnAt = w.hist.tick(), w.since()
	w.hist.add(*o)
}

// quiesce stops every fault, lets the cluster recover, and waits for every
// request in flight.
func (w *world) quiesce(res *Result) {
	w.logf("faults stop")
	for _, s := range w.slots {
		s.current().disarm()
	}
	for len(w.events) > 0 { // resumes, restarts, ends of absences
		w.advance(time.Until(w.events[len(w.events)-1].at) + time.Millisecond)
	}
	for _, s := range w.slots {
		n := s.current()
		n.disarm()
		n.resume()
	}
	w.mu.Lock()
	w.lErr = map[string]int{}
	w.mu.Unlock()
	w.advance(2*livenessTTL + leaseWait + 2*time.Second)
	w.reqs.Wait()
	res.QuietAt, res.QuietSeq = w.since(), w.hist.tick()
}

// finalReads reads every browser's session twice, on two nodes: each must
// answer 200 (no session is broken for good) with what it holds.
func (w *world) finalReads() {
	nodes := w.liveNodes()
	for _, b := range w.brs {
		first := w.rng.IntN(len(nodes))
		for i := range 2 {
			w.do(b, opRead, nodes[(first+i)%len(nodes)], true)
		}
	}
}

// expireAll lets every session expire and their destroy events come.
func (w *world) expireAll() {
	var ops []*Op
	for _, b := range w.brs {
		if o := w.expireOp(b); o.Part != "" {
			ops = append(ops, o)
		}
	}
	w.advance(idleTimeout + touchInterval + 2*maxOffset + 4*time.Second)
	for _, o := range ops {
		w.endExpire(o)
	}
	w.advance(2 * destroyBound)
	w.reqs.Wait()
}

// inspect records the state of every meta record left in the store.
func (w *world) inspect(res *Result) {
	ctx := context.Background()
	res.Stored = map[string]string{}
	keys, err := w.base.List(ctx, "s.*.m", "", 1<<20)
	if err != nil {
		panic(err)
	}
	for _, k := range keys {
		e, err := w.base.Get(ctx, k)
		if err != nil {
			continue
		}
		var rec map[string]any
		state := "undecodable"
		if cbor.Unmarshal(e.Value, &rec) == nil {
			switch {
			case rec["z"] == true:
				state = "pending"
			case rec["x"] != nil:
				state = "ended"
			default:
				state = "live"
			}
		}
		res.Stored[k[2:10]] = state
	}
}

func (w *world) teardown() {
	for _, s := range w.slots {
		if n := s.current(); !n.isDead() {
			n.mgr.Close()
			n.eng.Close()
		}
	}
	w.base.Close()
	w.reqs.Wait()
}

// stripped sums, over every node run, the held sessions that lost their
// copy but kept their lease (kiln.Stats.EvictedHeld): whether the run
// took the near cache's bare path at all.
func (w *world) stripped() int64 {
	var n int64
	for _, s := range w.slots {
		s.mu.Lock()
		runs := append([]*nodeRun(nil), s.all...)
		s.mu.Unlock()
		for _, r := range runs {
			n += r.mgr.Stats().EvictedHeld
		}
	}
	return n
}
