package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Hub is one web node's end of the clustered channels. It is safe for
// concurrent use. Create it with NewHub, stop it with Close.
type Hub struct {
	opts   Options
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	subj   subjects
	epoch  atomic.Pointer[string]
	fan    *fanout
	pres   *presence
	lim    *limiter
	pub    *publisher
	ctl    *nats.Subscription
	quit   chan struct{} // closed by Close: stops watch

	mu       sync.Mutex                 // guards the fields below
	subs     map[*Subscription]struct{} // open subscriptions
	conns    map[*tracked]struct{}      // open connections (logout.go)
	handlers []handlerEntry             // Handle'd service patterns
	closed   bool
}

type handlerEntry struct {
	segs []string
	fn   Handler
}

// subjects are the NATS subjects of a Hub's bucket.
type subjects struct {
	stream string // "KILNCH_<bucket>"
	in     string // "kilnch.<bucket>.in.": what Publish stores
	out    string // "kilnch.<bucket>.out.": what the stream republishes once stored
	ctl    string // "kilnch.<bucket>.ctl": logout broadcasts
}

func subjectsFor(bucket string) subjects {
	p := "kilnch." + bucket + "."
	return subjects{stream: "KILNCH_" + bucket, in: p + "in.", out: p + "out.", ctl: p + "ctl"}
}

// NewHub binds to (or creates) the bucket's channel stream and presence
// bucket on nc (natsengine.Engine.Conn()) and starts listening for logout
// broadcasts. nc stays the caller's: Close does not close it.
func NewHub(ctx context.Context, nc *nats.Conn, opts Options) (*Hub, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("channel: jetstream: %w", err)
	}
	h := &Hub{opts: opts, log: opts.Logger, nc: nc, js: js, subj: subjectsFor(opts.Bucket),
		subs: make(map[*Subscription]struct{}), conns: make(map[*tracked]struct{}), lim: newLimiter(opts.Limits)}
	ctx, cancel := h.opCtx(ctx)
	defer cancel()
	if err := h.setup(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Hub) setup(ctx context.Context) error {
	replicas, err := h.replicas(ctx)
	if err != nil {
		return err
	}
	if err := h.ensureStream(ctx, replicas); err != nil {
		return err
	}
	h.fan = newFanout(h)
	h.pub = newPublisher(h)
	if h.pres, err = newPresence(ctx, h, replicas); err != nil {
		return err
	}
	if h.ctl, err = h.nc.Subscribe(h.subj.ctl, h.onControl); err != nil {
		h.pres.stop()
		return fmt.Errorf("channel: subscribe %s: %w", h.subj.ctl, err)
	}
	logouts, err := h.listenLogouts(ctx)
	if err != nil {
		h.ctl.Unsubscribe()
		h.pres.stop()
		return fmt.Errorf("channel: subscribe to logouts: %w", err)
	}
	h.quit = make(chan struct{})
	go h.watch(h.quit)
	go h.logouts(logouts)
	return nil
}

// replicas is Options.Replicas, or the session bucket's count, or 1.
func (h *Hub) replicas(ctx context.Context) (int, error) {
	if h.opts.Replicas > 0 {
		return h.opts.Replicas, nil
	}
	for _, name := range []string{"KV_" + h.opts.Bucket, "KV_" + h.opts.Bucket + "-0"} {
		st, err := h.js.Stream(ctx, name)
		if err == nil {
			return st.CachedInfo().Config.Replicas, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return 0, fmt.Errorf("channel: session bucket %s: %w", name, unavailable(err))
		}
	}
	return 1, nil
}

func (h *Hub) streamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              h.subj.stream,
		Description:       "kiln channels of bucket " + h.opts.Bucket,
		Subjects:          []string{h.subj.in + ">"},
		MaxMsgsPerSubject: int64(h.opts.History),
		MaxAge:            h.opts.HistoryAge,
		Duplicates:        h.opts.DedupWindow,
		Replicas:          replicas,
		Storage:           jetstream.FileStorage,
		Discard:           jetstream.DiscardOld,
		AllowDirect:       false, // reads go to the leader: a lagging replica never answers
		RePublish:         &jetstream.RePublish{Source: h.subj.in + ">", Destination: h.subj.out + ">"},
		Metadata:          map[string]string{"kiln_epoch": nuid.Next()},
	}
}

// ensureStream binds to the channel stream or creates it. An existing
// stream's limits win over Options (a node may not update streams); a
// difference is logged.
func (h *Hub) ensureStream(ctx context.Context, replicas int) error {
	want := h.streamConfig(replicas)
	st, err := h.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		err = whilePlacing(ctx, func() error {
			st, err = h.js.CreateStream(ctx, want)
			return err
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = h.js.Stream(ctx, want.Name)
		}
	}
	if err != nil {
		return fmt.Errorf("channel: stream %s: %w", want.Name, unavailable(err))
	}
	cfg := st.CachedInfo().Config
	if rp := cfg.RePublish; rp == nil || *rp != *want.RePublish {
		return fmt.Errorf("channel: stream %s does not republish %s to %s", cfg.Name, want.RePublish.Source, want.RePublish.Destination)
	}
	if cfg.MaxMsgsPerSubject != want.MaxMsgsPerSubject || cfg.MaxAge != want.MaxAge {
		h.log.Warn("channel: the stream's history limits differ from Options; the stream's apply",
			"stream", cfg.Name, "history", cfg.MaxMsgsPerSubject, "history_age", cfg.MaxAge)
	}
	h.stream = st
	h.setEpoch(st.CachedInfo())
	return nil
}

// whilePlacing runs create until it stops failing because the cluster
// cannot place the stream yet (servers still joining), or ctx ends.
func whilePlacing(ctx context.Context, create func() error) error {
	for {
		err := create()
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != jsErrNoPeers && apiErr.ErrorCode != jsErrInsufficientResources {
			return err
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (until %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// JetStream's answers while a cluster forms: "no suitable peers for
// placement" and "insufficient resources".
const (
	jsErrNoPeers               = 10005
	jsErrInsufficientResources = 10023
)

// setEpoch records the stream's epoch: its kiln_epoch metadata, or (for a
// stream made by other tools) its creation time.
func (h *Hub) setEpoch(info *jetstream.StreamInfo) string {
	e := info.Config.Metadata["kiln_epoch"]
	if e == "" {
		e = strconv.FormatInt(info.Created.UnixNano(), 36)
	}
	h.epoch.Store(&e)
	return e
}

// Epoch is the channel stream's current epoch.
func (h *Hub) Epoch() string { return *h.epoch.Load() }

// Node is Options.Node.
func (h *Hub) Node() string { return h.opts.Node }

// Close ends every subscription (ErrClosed), removes this Hub's presence
// entries, and stops its NATS subscriptions. The connection stays open.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	subs := make([]*Subscription, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		if s.endLocal(ErrClosed) && s.joined() {
			h.pres.leave(s)
		}
	}
	close(h.quit)
	h.pres.stop()
	return h.ctl.Unsubscribe()
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *Hub) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, h.opts.OpTimeout)
}

func (o Options) withDefaults() Options {
	if o.Bucket == "" {
		o.Bucket = "kiln"
	}
	if o.History == 0 {
		o.History = 100
	}
	if o.HistoryAge == 0 {
		o.HistoryAge = 10 * time.Minute
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = 2 * time.Minute
	}
	if o.ClientBuffer == 0 {
		o.ClientBuffer = 256
	}
	if o.PresenceTTL == 0 {
		o.PresenceTTL = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = 5 * time.Second
	}
	o.Limits = o.Limits.withDefaults()
	return o
}

func (l Limits) withDefaults() Limits {
	if l.MaxSubscriptions == 0 {
		l.MaxSubscriptions = 64
	}
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = 64 << 10
	}
	if l.PublishRate == 0 {
		l.PublishRate = 20
	}
	if l.PublishBurst == 0 {
		l.PublishBurst = 40
	}
	return l
}

func (o Options) validate() error {
	switch {
	case o.Node == "":
		return errors.New("channel: Options.Node is required")
	case !validLogoutNode(o.Node):
		return fmt.Errorf("channel: Options.Node %q: want no '/' or '*', no control characters, at most 64 bytes", o.Node)
	case !validBucket(o.Bucket):
		return fmt.Errorf("channel: Options.Bucket %q: want letters, digits, '-' and '_'", o.Bucket)
	case o.History < 1:
		return fmt.Errorf("channel: Options.History %d: want at least 1", o.History)
	case o.HistoryAge < time.Second:
		return fmt.Errorf("channel: Options.HistoryAge %s: want at least 1s", o.HistoryAge)
	case o.DedupWindow < 0 || o.DedupWindow > o.HistoryAge:
		return fmt.Errorf("channel: Options.DedupWindow %s: want 0..HistoryAge (%s)", o.DedupWindow, o.HistoryAge)
	case o.ClientBuffer < 1 || o.Replicas < 0 || o.Replicas > 5:
		return fmt.Errorf("channel: Options.ClientBuffer %d / Replicas %d: want ≥1 / 0..5", o.ClientBuffer, o.Replicas)
	case o.PresenceTTL < time.Second:
		return fmt.Errorf("channel: Options.PresenceTTL %s: want at least 1s", o.PresenceTTL)
	case o.Limits.MaxSubscriptions < 1 || o.Limits.MaxMessageBytes < 1 || o.Limits.PublishRate < 0 || o.Limits.PublishBurst < 1:
		return fmt.Errorf("channel: Options.Limits %+v: want positive values", o.Limits)
	}
	return nil
}

// validLogoutNode: the node's logout channel (logout.go) is one channel segment.
func validLogoutNode(node string) bool {
	_, err := segments(logoutPrefix+node, false)
	return err == nil && len(node) <= 64 && !strings.Contains(node, "/")
}

func validBucket(b string) bool {
	if b == "" {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
