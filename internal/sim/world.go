package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/memengine"
)

// The simulated cluster's settings: short timeouts and tiny caches, so
// that a run of a minute of simulated time crosses every one of them.
const (
	numNodes      = 3
	numBrowsers   = 5
	numUsers      = 2
	idleTimeout   = 20 * time.Second
	touchInterval = time.Second
	livenessTTL   = 3 * time.Second
	engineTimeout = 500 * time.Millisecond
	leaseWait     = 2 * time.Second
	revokeTimeout = 300 * time.Millisecond
	maxOffset     = 2 * time.Second // the largest clock offset the schedule sets
	destroyBound  = 10 * time.Second
	maxInFlight   = 6
	cookieName    = "kiln_session"
)

// Config is one run of the simulation.
type Config struct {
	Seed   uint64
	Steps  int   // scheduler steps before the faults stop
	Faults Kinds // the fault kinds the schedule may inject
	// CacheBytes, if set, bounds each node's near cache by bytes alone
	// (CacheSessions 0), so that held sessions lose their copies before
	// their leases (internal/lease bare.go); 0 keeps the count bound.
	CacheBytes int
	// Trace, if set, gets every line of the run as it happens.
	Trace func(string)
}

// Result is what a run recorded, for Check.
type Result struct {
	Cfg      Config
	Ops      []Op
	Events   []Delivery
	Schedule []string // the faults injected, in order
	Trace    []string // every line of the run
	// Stored: fingerprint -> state of its meta record at the end
	// ("live", "pending", "ended").
	Stored   map[string]string
	QuietAt  time.Duration // when the faults stopped
	QuietSeq int64
	SimTime  time.Duration
	Stripped int64           // held sessions that kept their lease without a copy, over all nodes
	Times    []time.Duration // Times[seq-1]: when position seq was handed out
}

// world is the state of one run.
type world struct {
	cfg    Config
	rng    *rand.Rand
	start  time.Time
	base   *memengine.Engine
	hist   *history
	slots  []*nodeSlot
	brs    []*browser
	reqs   sync.WaitGroup
	events []timed // pending scheduled actions, unsorted

	mu       sync.Mutex // guards trace, schedule, lErr
	trace    []string
	schedule []string
	lErr     map[string]int // node name -> OnDestroyed calls to fail
}

// timed is an action the scheduler runs at a point of simulated time.
type timed struct {
	at time.Time
	do func()
}

func newWorld(cfg Config) *world {
	w := &world{cfg: cfg, start: time.Now(), hist: &history{start: time.Now()}, lErr: map[string]int{}}
	w.rng = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	w.base = memengine.New(memengine.Options{})
	for i := range numNodes {
		s := &nodeSlot{name: string(rune('A' + i))}
		if cfg.Faults[Offset] && w.rng.IntN(2) == 0 {
			s.clk.set(w.randomOffset()) // this host's clock from the start
		}
		w.slots = append(w.slots, s)
		w.startNode(s)
	}
	for i := range numBrowsers {
		b := &browser{id: i, user: fmt.Sprintf("u%d", i%numUsers), lsidOf: map[string]string{},
			readShare: 0.3 + 0.6*w.rng.Float64()}
		if i == 0 {
			b.readShare = 0.97 // a reader: its session lives on lazy touches alone
		}
		w.brs = append(w.brs, b)
	}
	return w
}

func (w *world) since() time.Duration { return time.Since(w.start) }

func (w *world) logf(format string, args ...any) {
	line := fmt.Sprintf("%9.3fs ", w.since().Seconds()) + fmt.Sprintf(format, args...)
	w.mu.Lock()
	w.trace = append(w.trace, line)
	w.mu.Unlock()
	if w.cfg.Trace != nil {
		w.cfg.Trace(line)
	}
}

// fault logs an injected fault into the schedule and the trace.
func (w *world) fault(format string, args ...any) {
	line := fmt.Sprintf("%9.3fs ", w.since().Seconds()) + fmt.Sprintf(format, args...)
	w.mu.Lock()
	w.schedule = append(w.schedule, line)
	w.mu.Unlock()
	w.logf("FAULT "+format, args...)
}

// logWriter sends kiln's log lines to the trace, but those of a node
// incarnation that was killed (a dead process logs nothing).
type logWriter struct {
	w *world
	n *nodeRun // nil for the shared logger
}

func (l logWriter) Write(p []byte) (int, error) {
	if l.n == nil || !l.n.isDead() {
		l.w.logf("kiln: %s", string(p[:max(len(p)-1, 0)]))
	}
	return len(p), nil
}

var _ io.Writer = logWriter{}

// startNode starts the next incarnation of a node on a fresh engine client.
func (w *world) startNode(s *nodeSlot) {
	s.mu.Lock()
	n := &nodeRun{slot: s, inc: len(s.all), w: w, dead: make(chan struct{}), unavailable: map[string]int64{},
		offset: s.clk.offset()}
	s.mu.Unlock()
	n.eng = &faultEngine{n: n, inner: w.base.Peer()}
	cfg := kiln.DefaultConfig()
	cfg.Node = s.name
	cfg.Clock = nodeClock{n}
	cfg.IdleTimeout, cfg.TouchInterval = idleTimeout, touchInterval
	cfg.LivenessTTL, cfg.EngineTimeout = livenessTTL, engineTimeout
	cfg.LeaseWait, cfg.LeaseRevokeTimeout = leaseWait, revokeTimeout
	cfg.CacheSessions = 2 + int(w.cfg.Seed%2)
	if w.cfg.CacheBytes > 0 {
		cfg.CacheBytes, cfg.CacheSessions = w.cfg.CacheBytes, 0
	}
	if limited(w.cfg.Seed) {
		cfg.MaxSessionsPerPrincipal, cfg.RefuseOverLimit = 1, true
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logWriter{w, n}, &slog.HandlerOptions{Level: slog.LevelWarn})).
		With("node", fmt.Sprintf("%s#%d", s.name, n.inc))
	cfg.OnDestroyed = w.onDestroyed(n)
	cfg.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, err.Error(), kiln.StatusFor(err)) // the client's record keeps the cause
	}
	m, err := kiln.New(n.eng, cfg)
	if err != nil {
		panic(fmt.Sprintf("sim: start node %s: %v", s.name, err))
	}
	n.mgr, n.handler = m, n.holding(m.Handler(appHandler(m)))
	s.mu.Lock()
	s.cur, s.all = n, append(s.all, n)
	s.mu.Unlock()
	w.logf("node %s#%d started", s.name, n.inc)
}

// limited reports whether a seed runs with one session per principal
// (Config.MaxSessionsPerPrincipal 1, RefuseOverLimit): every fourth seed.
func limited(seed uint64) bool { return seed%4 == 0 }

var errDead = errors.New("sim: listener's node is dead")

func (w *world) onDestroyed(n *nodeRun) func(context.Context, kiln.DestroyEvent) error {
	return func(ctx context.Context, ev kiln.DestroyEvent) error {
		if n.isDead() {
			return errDead
		}
		if w.takeListenerErr(n.slot.name) {
			w.logf("destroy %s on %s#%d: injected listener error", ev.Fingerprint, n.slot.name, n.inc)
			return errors.New("sim: injected listener error")
		}
		d := Delivery{Seq: w.hist.tick(), At: w.since(), Node: n, FP: ev.Fingerprint, Reason: string(ev.Reason)}
		ev.Decode("lsid", &d.Lsid)
		d.HasN, _ = ev.Decode("n", &d.N)
		var pad string
		hasPad, _ := ev.Decode("pad", &pad)
		d.Torn = torn(d.N, pad, hasPad)
		w.hist.addEvent(d)
		w.logf("%s", d)
		return nil
	}
}

func (w *world) takeListenerErr(node string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lErr[node] > 0 {
		w.lErr[node]--
		return true
	}
	return false
}

// liveNodes returns the current incarnations that are not dead.
func (w *world) liveNodes() []*nodeRun {
	var out []*nodeRun
	for _, s := range w.slots {
		if n := s.current(); !n.isDead() {
			out = append(out, n)
		}
	}
	return out
}
