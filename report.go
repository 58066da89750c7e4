package kiln

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/internal/keys"
)

// A Manager whose engine carries messages (engine.Messenger) publishes a
// report every Config.ReportInterval on the subject cluster.report.<node>,
// and a last one, Leaving, from Close: what package cluster shows. The
// report is JSON (any NATS client can read it: nats sub
// 'kiln.<bucket>.cluster.report.*'), holds no session ID nor principal,
// and is best effort: a lost report only makes the node look quiet.

// NodeReport is the message a Manager publishes about itself.
type NodeReport struct {
	Node        string    `json:"node"`
	Incarnation string    `json:"incarnation,omitempty"` // "" with Config.NoLeases
	Started     time.Time `json:"started"`               // when New returned, by the node's clock
	At          time.Time `json:"at"`                    // when the report was made, by the node's clock
	Interval    Duration  `json:"interval"`              // the node's ReportInterval: the next report is due by then
	Leaving     bool      `json:"leaving,omitempty"`     // the last report, sent by Close
	Stats       Stats     `json:"stats"`
	// EngineLatency is every engine call's wall-clock latency (Get and
	// Commit merged: Observations' EngineGet and EngineCommit), ExpiryLag
	// Observations' ExpiryLag; both cumulative since Started, so that a
	// reader takes the distribution between two reports (ReportHistogram.Sub).
	EngineLatency ReportHistogram `json:"engine_latency"`
	ExpiryLag     ReportHistogram `json:"expiry_lag"`
}

// Duration is a time.Duration that JSON encodes as a string ("5s").
type Duration time.Duration

// MarshalJSON encodes d as time.Duration's String.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON decodes what MarshalJSON encodes.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// reporter is the report loop of one Manager. Its cadence is the wall
// clock's, not Config.Clock's: a report is for people and dashboards, not
// part of any protocol, and a test's fake clock that skips days must not
// drive tens of thousands of them.
type reporter struct {
	m   *Manager
	msg engine.Messenger

	mu     sync.Mutex // guards closed, timer
	closed bool
	timer  *time.Timer
}

// startReports arms the report loop if the engine carries messages and
// Config.ReportInterval is positive; the first report goes out at once.
func (m *Manager) startReports(eng engine.Store) {
	msg, ok := eng.(engine.Messenger)
	if !ok || m.cfg.ReportInterval <= 0 {
		return
	}
	m.reports = &reporter{m: m, msg: msg}
	m.reports.tick()
}

// Report returns the report this Manager publishes now.
func (m *Manager) Report() NodeReport {
	r := NodeReport{Node: m.name, Started: m.started, At: m.now(), Interval: Duration(m.cfg.ReportInterval), Stats: m.Stats()}
	o := m.Observations()
	r.EngineLatency = reportHistogram(o.EngineGet.Latency, o.EngineCommit.Latency)
	r.ExpiryLag = reportHistogram(o.ExpiryLag)
	if m.leases != nil {
		r.Incarnation = m.leases.Incarnation()
	}
	return r
}

// tick publishes a report and arms the next; under mu, so that no report
// follows the leaving one.
func (r *reporter) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.publish(r.m.Report())
	r.timer = time.AfterFunc(r.m.cfg.ReportInterval, r.tick)
}

func (r *reporter) publish(rep NodeReport) {
	b, err := json.Marshal(rep)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.m.cfg.EngineTimeout)
	defer cancel()
	if err := r.msg.Publish(ctx, keys.Report(rep.Node), b); err != nil {
		r.m.cfg.Logger.Debug("kiln: report not published", "node", rep.Node, "err", err)
	}
}

// stop ends the loop; the caller then sends the leaving report.
func (r *reporter) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
}

// leave stops the loop and publishes the Leaving report.
func (r *reporter) leave() {
	if r == nil {
		return
	}
	r.stop()
	rep := r.m.Report()
	rep.Leaving = true
	r.publish(rep)
}
