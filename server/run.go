package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// ReadyPrefix starts the line Run prints to stdout once the session
// buckets are open: "kiln server ready: nats://127.0.0.1:4222".
const ReadyPrefix = "kiln server ready: "

// Run validates cfg, starts the server and runs it until ctx ends, then
// shuts it down gracefully and returns nil.
//
// It starts the embedded NATS server, serves /healthz and /readyz, logs
// one line saying what it listens on and where it stores data, waits for
// JetStream (in a cluster: for a quorum of servers) and creates the
// session buckets, retrying until ctx ends, and then prints
// ReadyPrefix + "nats://host:port" to stdout. On ctx's end it stops the
// HTTP endpoints (in-flight requests get up to server.shutdown_timeout),
// closes its client, and shuts the NATS server down, which hands its
// stream leaderships to other servers and flushes its store.
func Run(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if log == nil {
		log = slog.Default()
	}
	srv, err := startNATS(&cfg, log)
	if err != nil {
		return err
	}
	h := newHealth(srv)
	sm := newServerMetrics(srv, cfg.Sessions.Bucket, log)
	h.metrics = sm.handler()
	cs, err := newConsoleSlot(&cfg, log, srv)
	if err != nil {
		srv.Shutdown()
		return err
	}
	if cs != nil {
		h.console = cs
	}
	hs, err := serveHTTP(cfg.HTTP.Listen, h, log)
	if err != nil {
		srv.Shutdown()
		return err
	}
	r := &running{cfg: &cfg, log: log, srv: srv, health: h, http: hs, metrics: sm, console: cs}
	r.logStart()
	eng, err := r.openBuckets(ctx)
	if eng != nil {
		h.eng.Store(eng)
		sm.start(eng)
		r.startConsole(ctx, eng)
		fmt.Fprintf(stdout, "%snats://%s\n", ReadyPrefix, r.clientAddr())
		<-ctx.Done()
	}
	r.stop()
	return err
}

// startNATS starts the embedded NATS server of cfg.
func startNATS(cfg *Config, log *slog.Logger) (*natsengine.Server, error) {
	if err := checkFree("server.listen", cfg.Server.Listen); err != nil {
		return nil, err
	}
	if cfg.Cluster != nil {
		if err := checkFree("cluster.listen", cfg.clusterListen()); err != nil {
			return nil, err
		}
	}
	sopts, err := cfg.serverOptions(natsLogger(log))
	if err != nil {
		return nil, err
	}
	srv, err := natsengine.StartServer(sopts)
	if errors.Is(err, natsengine.ErrStoreDir) {
		return nil, fmt.Errorf("server.data %s: %w", absPath(cfg.Server.Data), err)
	}
	if err != nil {
		return nil, fmt.Errorf("start nats server: %w", err)
	}
	return srv, nil
}

// running is a started server.
type running struct {
	cfg     *Config
	log     *slog.Logger
	srv     *natsengine.Server
	health  *health
	http    *httpServer // nil: no HTTP endpoints
	metrics *serverMetrics
	// console is nil without console users (console.go).
	console *consoleSlot
}

// clientAddr is the client address with the port actually listened on.
func (r *running) clientAddr() string {
	host, _ := splitAddr(r.cfg.Server.Listen)
	port := 0
	if a, ok := r.srv.NATS().Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// openBuckets opens the server's client, creating the session buckets,
// and retries with backoff until it succeeds or ctx ends (nil, nil). A
// bucket whose layout the server cannot repair (natsengine.ErrLayout) is
// an error at once: waiting does not fix it.
func (r *running) openBuckets(ctx context.Context) (*natsengine.Engine, error) {
	backoff, timeout := 100*time.Millisecond, 2*time.Second
	for attempt := 1; ; attempt++ {
		eng, err := r.tryOpen(ctx, timeout)
		if err == nil || ctx.Err() != nil {
			return eng, nil
		}
		if errors.Is(err, natsengine.ErrLayout) {
			return nil, fmt.Errorf("session buckets: %w", err)
		}
		r.health.setWaiting(err.Error())
		r.log.Warn("kiln server: session buckets not open yet; retrying"+r.waitHint(),
			"attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(backoff):
		}
		backoff, timeout = min(2*backoff, 5*time.Second), min(2*timeout, 30*time.Second)
	}
}

// waitHint says what a cluster server waits for.
func (r *running) waitHint() string {
	if r.cfg.Cluster == nil {
		return ""
	}
	return fmt.Sprintf(" (a cluster elects its leader with 2 of 3 servers up; creating a %d-replica bucket needs %d)",
		r.cfg.replicas(), r.cfg.replicas())
}

// jetStreamWait bounds one wait for JetStream, so that a server waiting
// for its cluster says so in its log now and then.
const jetStreamWait = 10 * time.Second

// tryOpen waits for JetStream, then opens the buckets within timeout: a
// request sent while the cluster elects its leader may go unanswered, so
// attempts start short and grow for big buckets (many shards).
func (r *running) tryOpen(ctx context.Context, timeout time.Duration) (*natsengine.Engine, error) {
	wctx, cancel := context.WithTimeout(ctx, jetStreamWait)
	err := r.srv.WaitJetStreamReady(wctx)
	cancel()
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opts := r.cfg.clientOptions(r.srv, r.log)
	eng, err := natsengine.Open(octx, opts)
	var sce *natsengine.ShardCountError
	if errors.As(err, &sce) {
		// The count of an existing bucket cannot change (keys would move):
		// keep it, as docs/server.md says sessions.shards applies at creation.
		r.log.Warn("kiln server: sessions.shards differs from the existing bucket's; using the bucket's",
			"bucket", sce.Bucket, "configured", sce.Want, "found", sce.Recorded)
		opts.Shards = 0
		eng, err = natsengine.Open(octx, opts)
	}
	if err != nil {
		return nil, err
	}
	r.log.Debug("kiln server: session buckets open", "bucket", r.cfg.Sessions.Bucket,
		"replicas", eng.Replicas(), "shards", eng.Shards())
	return eng, nil
}

// stop shuts down in order: HTTP endpoints, the client, the NATS server.
func (r *running) stop() {
	r.log.Info("kiln server: stopping")
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(r.cfg.Server.ShutdownTimeout))
	defer cancel()
	r.http.shutdown(ctx)
	r.metrics.stop()
	r.console.stop()
	if eng := r.health.eng.Swap(nil); eng != nil {
		eng.Conn().FlushTimeout(time.Second)
		eng.Close()
	}
	r.srv.Shutdown()
	r.log.Info("kiln server: stopped")
}
