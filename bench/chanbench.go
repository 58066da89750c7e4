package main

import (
	"bufio"
	"context"

	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The channel fan-out benchmark: N Server-Sent Events subscribers spread
// over 3 web nodes, one publisher on the first, kiln's channel Hub on
// `kiln server` against the centrifuge library on its Redis broker (both
// over SSE, both keeping history). Each message carries its send time;
// a subscriber records now − sent. Both systems serve from this process
// and the subscribers run in it too, so the CPU figures count the clients
// alike for both.

// chanSystem is one side of the channel benchmark.
type chanSystem struct {
	name    string
	urls    []string // one SSE URL per node; a GET subscribes to the benchmark channel
	publish func(ctx context.Context, data []byte) error
	// ready reports whether an SSE data line says the subscription is live.
	ready   func(line string) bool
	serverP int // the engine server's PID, for its CPU time
	close   func()
}

// chanSpec is one step: subscribers and messages.
type chanSpec struct {
	subs     int
	messages int
	rate     float64 // messages per second
}

// chanResult is what one step measured.
type chanResult struct {
	spec               chanSpec
	connected          int
	delivered          int64
	p50, p99           time.Duration
	elapsed            time.Duration // first publish to last delivery (or the wait's end)
	cpu                time.Duration // this process + the engine server, over the step
	err                string
	connectTime        time.Duration
	rssBefore, rssPeak int64
}

func (r chanResult) perSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.delivered) / r.elapsed.Seconds()
}

// perCore is delivered messages per CPU second used.
func (r chanResult) perCore() float64 {
	if r.cpu <= 0 {
		return 0
	}
	return float64(r.delivered) / r.cpu.Seconds()
}

func (r chanResult) lost() int64 {
	return int64(r.connected)*int64(r.spec.messages) - r.delivered
}

// parseChannelSteps reads -channels: subscriber counts, comma-separated;
// "" or "0" for none.
func parseChannelSteps(s string, quick bool) ([]chanSpec, error) {
	if s == "" || s == "0" {
		return nil, nil
	}
	var out []chanSpec
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-channels %q: want subscriber counts such as 1000,10000", s)
		}
		spec := chanSpec{subs: n, messages: 50, rate: 10}
		if quick {
			spec.messages, spec.rate = 10, 20
		}
		out = append(out, spec)
	}
	return out, nil
}

// channelSection runs the channel benchmark of o.channels, if any.
func channelSection(ctx context.Context, e env, o options) (string, error) {
	steps, err := parseChannelSteps(o.channels, o.quick)
	if err != nil {
		return "", err
	}
	return runChannelBench(ctx, e, steps)
}

// runChannelBench runs every step on both systems, interleaved, and
// returns the report's section, and errFailed if a system delivered
// nothing in some step.
func runChannelBench(ctx context.Context, e env, steps []chanSpec) (string, error) {
	if len(steps) == 0 {
		return "", nil
	}
	fmt.Fprintln(os.Stderr, "bench: channels: starting 3 kiln Hub nodes and 3 centrifuge nodes")
	ks, err := newKilnChannels(ctx, e)
	if err != nil {
		return "", fmt.Errorf("kiln channels: %w", err)
	}
	defer ks.close()
	cs, err := newCentrifugeChannels(ctx, e)
	if err != nil {
		return "", fmt.Errorf("centrifuge channels: %w", err)
	}
	defer cs.close()
	results := map[string][]chanResult{}
	failed := false
	for _, spec := range steps {
		for _, s := range []*chanSystem{ks, cs} {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			r := fanOut(ctx, s, spec)
			fmt.Fprintf(os.Stderr, "bench: channels %-22s %6d subs: connected %d, delivered %d/s, p50 %s p99 %s, lost %d %s\n",
				s.name, spec.subs, r.connected, int(r.perSec()), r.p50, r.p99, r.lost(), r.err)
			results[s.name] = append(results[s.name], r)
			if r.delivered == 0 {
				fmt.Fprintf(os.Stderr, "bench: FAIL channels %s: nothing delivered to %d subscribers %s\n", s.name, spec.subs, r.err)
				failed = true
			}
		}
	}
	if failed {
		err = errFailed
	}
	return channelTable(steps, ks.name, cs.name, results), err
}

// fanOut runs one step on s: connect spec.subs subscribers round robin
// over the nodes, publish, and collect.
func fanOut(ctx context.Context, s *chanSystem, spec chanSpec) chanResult {
	res := chanResult{spec: spec, rssBefore: rssBytes(0)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	col := newCollector(spec.subs * spec.messages)
	var ready sync.WaitGroup
	var connected atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for i := range spec.subs {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			subscriber(ctx, hc, s, s.urls[i%len(s.urls)], col, &ready, &connected)
		}()
	}
	if !waitGroup(&ready, 60*time.Second) {
		res.err = "(not every subscriber connected within 60s)"
	}
	res.connectTime = time.Since(start)
	res.connected = int(connected.Load())
	cpu0 := cpuTime(0) + cpuTime(s.serverP)
	t0 := time.Now()
	if err := publishAll(ctx, s, spec); err != nil {
		res.err = err.Error()
	}
	want := int64(res.connected) * int64(spec.messages)
	deadline := time.Now().Add(30 * time.Second)
	for col.count() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond) // a benchmark's wait, not a test's
	}
	res.elapsed = col.lastAt().Sub(t0)
	res.cpu = cpuTime(0) + cpuTime(s.serverP) - cpu0
	res.rssPeak = rssBytes(0)
	res.delivered = col.count()
	res.p50, res.p99 = col.percentiles()
	cancel()
	wg.Wait()
	return res
}

func waitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// publishAll publishes spec.messages at spec.rate, each carrying its
// send time.
func publishAll(ctx context.Context, s *chanSystem, spec chanSpec) error {
	tick := time.NewTicker(time.Duration(float64(time.Second) / spec.rate))
	defer tick.Stop()
	var errs []error
	for i := range spec.messages {
		data := fmt.Appendf(nil, `{"seq":%d,"t":%d}`, i, time.Now().UnixNano())
		if err := s.publish(ctx, data); err != nil {
			errs = append(errs, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d publishes failed, first: %w", len(errs), errs[0])
	}
	return nil
}

// subscriber reads one SSE stream until ctx ends, recording each
// message's latency.
func subscriber(ctx context.Context, hc *http.Client, s *chanSystem, u string, col *collector, ready *sync.WaitGroup, connected *atomic.Int64) {
	once := sync.OnceFunc(ready.Done)
	defer once()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") && !strings.HasPrefix(line, "data:") {
			continue
		}
		if sent, ok := sentTime(line); ok {
			col.add(time.Since(time.Unix(0, sent)))
			continue
		}
		if s.ready(line) {
			connected.Add(1)
			once()
		}
	}
}

// sentTime finds the "t" field of a benchmark message in an SSE line.
func sentTime(line string) (int64, bool) {
	i := strings.Index(line, `"t":`)
	if i < 0 {
		return 0, false
	}
	rest := line[i+4:]
	j := strings.IndexAny(rest, ",}")
	if j < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(rest[:j], 10, 64)
	return n, err == nil
}

// collector gathers latencies from every subscriber.
type collector struct {
	mu   sync.Mutex // guards lat and last
	lat  []time.Duration
	last time.Time
	n    atomic.Int64
}

func newCollector(capacity int) *collector {
	return &collector{lat: make([]time.Duration, 0, capacity)}
}

func (c *collector) add(d time.Duration) {
	c.mu.Lock()
	c.lat = append(c.lat, d)
	c.last = time.Now()
	c.mu.Unlock()
	c.n.Add(1)
}

func (c *collector) count() int64 { return c.n.Load() }

func (c *collector) lastAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *collector) percentiles() (p50, p99 time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lat) == 0 {
		return 0, 0
	}
	s := slices.Clone(c.lat)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100]
}

// channelTable is the report's channel section.
func channelTable(steps []chanSpec, kilnName, peerName string, res map[string][]chanResult) string {
	var b strings.Builder
	b.WriteString("## Channels: fan-out over SSE, 3 nodes\n\n")
	fmt.Fprintf(&b, "One publisher on node 1; subscribers spread round robin over 3 nodes; %d messages at %g/s per step. "+
		"delivered/s = deliveries ÷ (first publish → last delivery); per core = deliveries ÷ CPU seconds "+
		"(this process, which also runs the subscribers, + the engine server).\n\n", steps[0].messages, steps[0].rate)
	b.WriteString("| system | subscribers | connected | p50 | p99 | delivered/s | delivered per CPU-s | lost | RSS growth |\n|---|---|---|---|---|---|---|---|---|\n")
	for i, spec := range steps {
		for _, name := range []string{kilnName, peerName} {
			r := res[name][i]
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %.0f | %.0f | %d | %d MB |\n", name, spec.subs, r.connected,
				r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.perSec(), r.perCore(), r.lost(),
				(r.rssPeak-r.rssBefore)>>20)
		}
		k, p := res[kilnName][i], res[peerName][i]
		if p.perCore() > 0 && p.p99 > 0 {
			fmt.Fprintf(&b, "| kiln ÷ centrifuge | %d | | | %.2f× p99 | %.2f× | %.2f× | | |\n", spec.subs,
				float64(k.p99)/float64(p.p99), k.perSec()/max(p.perSec(), 1), k.perCore()/p.perCore())
		}
	}
	b.WriteString("\n")
	return b.String()
}

func nodeURL(base, path string, q url.Values) string {
	return base + path + "?" + q.Encode()
}
