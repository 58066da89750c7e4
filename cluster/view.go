package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/internal/keys"
)

// Engine is what a View needs: messaging for the reports, Get for the
// liveness records. An engine that also lists keys (engine.Lister) lets
// the View find nodes that have not reported yet.
type Engine interface {
	engine.Store
	engine.Messenger
}

// Node is one web node as a View sees it.
type Node struct {
	Name        string
	Incarnation string    // of its last report, or of its liveness record before any report
	Live        bool      // see the package doc
	Leaving     bool      // its last report was the one Close sends
	Started     time.Time // when its Manager started, by its clock
	LastReport  time.Time // when it made its last report, by its clock; zero if none
	Cached      int64     // sessions in its near cache
	CachedBytes int64
	Stats       kiln.Stats
	// EngineLatency and ExpiryLag are the histograms of its last report,
	// cumulative since it started (zero before any, or from a node whose
	// reports lack them).
	EngineLatency, ExpiryLag kiln.ReportHistogram
	// RequestsPerSec is the rate of Stats.Handled between its last two
	// reports (0 after its first).
	RequestsPerSec float64
}

// Options tune a View. The zero value is the defaults.
type Options struct {
	// Poll is how often the liveness records are read. Default 2s.
	Poll time.Duration
	// Discover is how often the View lists every liveness record, to find
	// nodes that have not reported (a scan of the bucket's n.* keys, on
	// engines that list keys). Reports find the others at once. Default 30s.
	Discover time.Duration
	// Forget is how long a node that is not live stays listed. Default 1m.
	Forget time.Duration
	// EngineTimeout bounds each engine call. Default 3s.
	EngineTimeout time.Duration
	Clock         clock.Clock  // default clock.Real
	Logger        *slog.Logger // default slog.Default()
}

func (o Options) withDefaults() Options {
	o.Poll = cmp.Or(o.Poll, 2*time.Second)
	o.Forget = cmp.Or(o.Forget, time.Minute)
	o.Discover = cmp.Or(o.Discover, 30*time.Second)
	o.EngineTimeout = cmp.Or(o.EngineTimeout, 3*time.Second)
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// View follows the cluster's nodes until Close. It is safe for concurrent use.
type View struct {
	eng    Engine
	lister engine.Lister // nil if eng cannot list
	opts   Options
	sub    engine.Subscription

	mu     sync.Mutex // guards nodes, closed, timer
	nodes  map[string]*node
	closed bool
	timer  clock.Timer

	lastList time.Time // when poll last listed the records; only poll (one at a time) uses it
}

// node is what a View knows of one node.
type node struct {
	report, prev *kiln.NodeReport // last two reports; nil before any
	received     time.Time        // when report arrived, by the View's clock
	liveInc      string           // incarnation in its liveness record; "" if none
	liveSeen     time.Time        // when the record was last read present (or the report arrived)
}

// Watch subscribes to the nodes' reports, reads the liveness records once
// (within ctx) and returns the View, which keeps both up to date until
// Close.
func Watch(ctx context.Context, eng Engine, opts Options) (*View, error) {
	if eng == nil {
		return nil, errors.New("cluster: Watch: nil engine")
	}
	v := &View{eng: eng, opts: opts.withDefaults(), nodes: make(map[string]*node)}
	v.lister, _ = eng.(engine.Lister)
	sub, err := eng.Subscribe(keys.ReportPattern, "", v.onReport)
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe to reports: %w", err)
	}
	v.sub = sub
	if err := v.poll(ctx); err != nil {
		v.opts.Logger.Warn("kiln cluster: liveness records not read yet; retrying", "err", err)
	}
	v.schedule()
	return v, nil
}

// Nodes returns every node the View knows, sorted by Name.
func (v *View) Nodes() []Node {
	now := v.opts.Clock.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Node, 0, len(v.nodes))
	for name, n := range v.nodes {
		out = append(out, n.view(name, now))
	}
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Close stops following the cluster.
func (v *View) Close() error {
	v.mu.Lock()
	v.closed = true
	if v.timer != nil {
		v.timer.Stop()
	}
	v.mu.Unlock()
	return v.sub.Stop()
}

func (v *View) onReport(msg *engine.Msg) {
	var rep kiln.NodeReport
	if err := json.Unmarshal(msg.Data, &rep); err != nil || msg.Subject != keys.Report(rep.Node) {
		v.opts.Logger.Debug("kiln cluster: report ignored", "subject", msg.Subject, "err", err)
		return
	}
	v.mu.Lock()
	n := v.entry(rep.Node)
	n.prev, n.report, n.received = n.report, &rep, v.opts.Clock.Now()
	unknown := rep.Incarnation != "" && rep.Incarnation != n.liveInc && !rep.Leaving
	v.mu.Unlock()
	if unknown {
		// A node new to this view, or one that changed incarnation: read
		// its record now rather than at the next poll.
		ctx, cancel := context.WithTimeout(context.Background(), v.opts.EngineTimeout)
		defer cancel()
		v.readLiveness(ctx, rep.Node)
	}
}

// entry returns the node named name, creating it; v.mu is held.
func (v *View) entry(name string) *node {
	n := v.nodes[name]
	if n == nil {
		n = &node{}
		v.nodes[name] = n
	}
	return n
}

// view is n as a Node at now.
func (n *node) view(name string, now time.Time) Node {
	out := Node{Name: name, Incarnation: n.liveInc, Live: n.liveInc != ""}
	r := n.report
	if r == nil {
		return out
	}
	out.Incarnation, out.Leaving = r.Incarnation, r.Leaving
	out.Started, out.LastReport = r.Started, r.At
	out.Stats, out.Cached, out.CachedBytes = r.Stats, r.Stats.Cached, r.Stats.CachedBytes
	out.EngineLatency, out.ExpiryLag = r.EngineLatency, r.ExpiryLag
	fresh := now.Sub(n.received) <= 3*time.Duration(r.Interval)
	recorded := r.Incarnation == "" || r.Incarnation == n.liveInc
	out.Live = fresh && recorded && !r.Leaving
	out.RequestsPerSec = rate(n.prev, r)
	return out
}

// rate is the rate of Stats.Handled between two reports of one run of a
// node, 0 if there are not two.
func rate(prev, cur *kiln.NodeReport) float64 {
	if prev == nil || !prev.Started.Equal(cur.Started) {
		return 0
	}
	dt := cur.At.Sub(prev.At).Seconds()
	d := cur.Stats.Handled - prev.Stats.Handled
	if dt <= 0 || d < 0 {
		return 0
	}
	return float64(d) / dt
}
