package kiln

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/internal/keys"
	"github.com/kilnhq/kiln/internal/lease"
)

// Manager gives the requests of one web process their clustered sessions.
// Every process of an application creates one on the same engine (each with
// its own Node name); then any process serves any session.
type Manager struct {
	cfg           Config
	eng           engine.Store     // a countingStore: counts and times its calls
	msg           engine.Messenger // nil without leases
	lister        engine.Lister    // nil if the engine cannot enumerate keys
	leases        *lease.Table     // nil with Config.NoLeases
	touchInterval time.Duration
	expirySub     engine.Subscription // nil if the engine reports no expiries
	relay         *relay              // nil unless Config.RelayURL
	stats         stats
	name          string    // Config.Node, or a random name if that is empty
	started       time.Time // when New returned
	reports       *reporter // nil: no reports (report.go)
}

// New returns a Manager storing sessions in eng. It validates cfg.
func New(eng engine.Store, cfg Config) (*Manager, error) {
	if eng == nil {
		return nil, errors.New("kiln: New: nil engine")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, touchInterval: cfg.touchInterval(), name: cfg.Node, started: cfg.Clock.Now()}
	if m.name == "" {
		m.name = "anon-" + randomToken()
	}
	m.eng = countingStore{Store: eng, ops: &m.stats.engineOps, obs: &m.stats.obs}
	m.lister, _ = eng.(engine.Lister)
	if cfg.MaxSessionsPerPrincipal > 0 && m.lister == nil {
		return nil, errors.New("kiln: New: MaxSessionsPerPrincipal needs an engine that lists keys (engine.Lister)")
	}
	if err := m.startExpiry(eng); err != nil {
		return nil, err
	}
	if err := m.startLeases(eng); err != nil {
		m.Close()
		return nil, err
	}
	m.startReports(eng)
	return m, nil
}

// startLeases sets up session leases (internal/lease) unless Config.NoLeases.
func (m *Manager) startLeases(eng engine.Store) error {
	if m.cfg.NoLeases {
		return nil
	}
	msg, ok := eng.(engine.Messenger)
	if !ok {
		return errors.New("kiln: New: session leases need an engine with messaging (engine.Messenger); set Config.NoLeases to run without")
	}
	m.msg = msg
	t, err := lease.Start(lease.Config{
		Node: m.name, Store: m.eng, Messenger: msg, Clock: m.cfg.Clock, Logger: m.cfg.Logger,
		Wait: m.cfg.LeaseWait, RevokeTimeout: m.cfg.LeaseRevokeTimeout, EngineTimeout: m.cfg.EngineTimeout,
		LivenessTTL: m.cfg.LivenessTTL, RecordTTL: keys.LeaseTTL(m.maxLifetime()),
		CacheSessions: m.cfg.CacheSessions, CacheBytes: m.cfg.CacheBytes, Advertise: m.cfg.RelayURL,
		Counters: &m.stats.lease, SessionLive: sessionLive,
	})
	if err != nil {
		return engineErr("start leases", err)
	}
	m.leases = t
	if m.cfg.RelayURL != "" {
		m.relay = newRelay(m)
	}
	return nil
}

// Close stops the Manager's background work and hands its sessions over
// gracefully: it frees every lease it holds (waiting, at most LeaseWait,
// for requests in flight) and deletes its liveness record, so other nodes
// serve its sessions at once instead of after LivenessTTL. It does not
// close the engine.
//
// It publishes the node's last report (Leaving) once its leases are
// free (report.go).
func (m *Manager) Close() error {
	var errs []error
	if m.expirySub != nil {
		errs = append(errs, m.expirySub.Stop())
	}
	if m.leases != nil {
		errs = append(errs, m.leases.Stop())
	}
	if m.relay != nil {
		m.relay.hop.closeIdle()
	}
	m.reports.leave()
	return errors.Join(errs...)
}

// countingStore counts and times the engine calls a Manager makes:
// Stats.EngineOps, and Observations' EngineGet and EngineCommit (observe.go).
type countingStore struct {
	engine.Store
	ops *atomic.Int64
	obs *observations
}

func (c countingStore) Get(ctx context.Context, key string) (engine.Entry, error) {
	c.ops.Add(1)
	start := time.Now()
	e, err := c.Store.Get(ctx, key)
	c.obs.get.observe(start, err)
	return e, err
}

func (c countingStore) Commit(ctx context.Context, ops ...engine.Op) ([]uint64, error) {
	c.ops.Add(1)
	start := time.Now()
	revs, err := c.Store.Commit(ctx, ops...)
	c.obs.commit.observe(start, err)
	return revs, err
}

// Config returns the Manager's configuration.
func (m *Manager) Config() Config { return m.cfg }

type ctxKey struct{}

// served is what the middleware allocates for one request, in one piece:
// its state, the response writer wrapping the handler's, and the context
// that carries the session.
type served struct {
	req request
	w   responseWriter
	ctx sessionContext
}

// sessionContext is context.WithValue(Context, ctxKey{}, s), without an
// allocation of its own.
type sessionContext struct {
	context.Context
	s *Session
}

func (c *sessionContext) Value(key any) any {
	if key == (ctxKey{}) {
		return c.s
	}
	return c.Context.Value(key)
}

// FromContext returns the session of the request whose context ctx is, or
// nil outside a handler wrapped by Manager.Handler.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// Handler is the middleware: next gets the request's session from
// FromContext(r.Context()). The session is saved, and released for the
// user's other requests, when the response starts (the first WriteHeader,
// Write or Flush, or Hijack) or when next returns, before any byte of the
// response is sent; if saving fails, the client gets the error's status
// (StatusFor) instead of next's response, and the failure is logged. After
// the start, reads keep working and every change fails with
// ErrResponseStarted (docs/http.md).
//
// With Config.RelayURL, a request on a session another live node holds is
// forwarded to that node, which serves it through its own handler chain
// (docs/leases.md "Relaying").
func (m *Manager) Handler(next http.Handler) http.Handler {
	serve := m.serveLocal(next)
	if m.relay != nil {
		return m.relay.handler(serve)
	}
	return serve
}

// serveLocal serves requests on this node: the session's lease is taken here.
func (m *Manager) serveLocal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.stats.handled.Add(1)
		s, in, err := m.load(r)
		defer s.release()
		if err != nil {
			m.fail(w, r, failedSession(s, in), err)
			return
		}
		v := &served{req: request{m: m, r: r, s: s, in: in}, ctx: sessionContext{Context: r.Context(), s: s}}
		v.w = responseWriter{ResponseWriter: w, req: &v.req}
		next.ServeHTTP(&v.w, r.WithContext(&v.ctx))
		v.req.finish(w)
	})
}

// loadLeased takes the session's lease (with its request slot: requests on
// one session are serialised cluster-wide) and fills s from the cached copy,
// or from the engine if this node has none that is current.
func (m *Manager) loadLeased(ctx context.Context, s *Session, base, k string) error {
	e, err := m.acquireLease(ctx, k)
	if err != nil || e == nil {
		return err
	}
	s.lease = e
	var snap *snapshot
	switch c := e.Snapshot().(type) {
	case *snapshot:
		snap = c
	case *lease.Bare:
		return m.loadBare(ctx, s, base, k, c)
	default:
		return m.loadStored(ctx, s, base, k)
	}
	s.restore(base, e.Key(), snap)
	m.stats.fromMemory.Add(1)
	if m.expired(s) {
		return m.endExpired(ctx, s)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// newSession returns a session that is not stored yet.
func (m *Manager) newSession(ctx context.Context) *Session {
	now := m.now()
	s := &Session{m: m, ctx: ctx, lastAccess: now}
	s.meta.Created = now
	return s
}

// loadStored fills s from the engine if base (store key k) names a live
// session.
func (m *Manager) loadStored(ctx context.Context, s *Session, base, k string) error {
	ctx, cancel := m.engineCtx(ctx)
	defer cancel()
	meta, touch, err := m.getBoth(ctx, metaKey(k), touchKey(k))
	if err != nil || meta == nil || touch == nil {
		return err
	}
	var tr touchRecord
	if decode(touch.Value, &tr) != nil {
		m.cfg.Logger.Warn("kiln: undecodable session records; starting a new session", "session", k[:8])
		return nil
	}
	return m.fill(ctx, s, base, k, meta, touch.Revision, tr.LastAccess)
}

// loadBare fills s, whose lease this node holds without a copy
// (internal/lease's Bare), with one read: its meta record, and the touch
// state the copy had (only the holder writes either). A meta record at
// another revision than the copy's (it ended, or was fenced) is read
// again with its touch record.
func (m *Manager) loadBare(ctx context.Context, s *Session, base, k string, bare *lease.Bare) error {
	ectx, cancel := m.engineCtx(ctx)
	defer cancel()
	meta, err := m.getOpt(ectx, metaKey(k))
	switch {
	case err != nil || meta == nil:
		return err
	case meta.Revision != bare.MetaRev:
		return m.loadStored(ctx, s, base, k)
	}
	return m.fill(ectx, s, base, k, meta, bare.TouchRev, bare.LastAccess)
}

// fill makes s stored session base (key k) from its meta record and touch
// state, unless it ended or is past a deadline.
func (m *Manager) fill(ctx context.Context, s *Session, base, k string, meta *engine.Entry, touchRev uint64, lastAccess time.Time) error {
	var rec metaRecord
	if decode(meta.Value, &rec) != nil {
		m.cfg.Logger.Warn("kiln: undecodable session records; starting a new session", "session", k[:8])
		return nil
	}
	s.base, s.key, s.meta, s.index, s.metaRev, s.loadedPrincipal = base, k, rec, nil, meta.Revision, rec.Principal
	s.touchRev, s.lastAccess = touchRev, lastAccess
	switch {
	case rec.Ended != "":
		s.reset()
		return nil
	case m.expired(s):
		return m.endExpired(ctx, s)
	}
	s.stored = true
	m.stats.loaded.Add(1)
	return nil
}

// endExpired ends stored session s, which this node found past a deadline
// by its own clock, and leaves s a new session: the meta record becomes a
// pending tombstone (ReasonExpired, compare-and-set, under the lease the
// request holds), so that no node whose clock is behind serves it after
// this one judged it over; its destroy event follows through the expiry
// path. A conflict means it changed or ended meanwhile, and it is not
// served either way; any other failure fails the request (503), for the
// same reason.
func (m *Manager) endExpired(ctx context.Context, s *Session) error {
	p, err := m.planEnd(s.key, s.record(), endedExpired)
	if err == nil {
		_, err = m.run(ctx, "end expired session", p)
	}
	s.reset()
	if err != nil && !errors.Is(err, ErrConcurrentUpdate) {
		return err
	}
	return nil
}

// expired reports whether the loaded session is past its idle or absolute
// deadline by this node's clock, whatever the engine's timers say.
func (m *Manager) expired(s *Session) bool {
	now := m.now()
	idleEnd := s.lastAccess.Add(s.idleTimeout() + m.touchInterval)
	return !now.Before(idleEnd) || !now.Before(s.meta.Deadline)
}

// getBoth reads two keys concurrently; a missing key yields nil.
func (m *Manager) getBoth(ctx context.Context, k1, k2 string) (*engine.Entry, *engine.Entry, error) {
	var (
		wg   sync.WaitGroup
		e2   *engine.Entry
		err2 error
	)
	wg.Go(func() { e2, err2 = m.getOpt(ctx, k2) })
	e1, err1 := m.getOpt(ctx, k1)
	wg.Wait()
	if err1 != nil {
		return nil, nil, err1
	}
	return e1, e2, err2
}

func (m *Manager) getOpt(ctx context.Context, key string) (*engine.Entry, error) {
	e, err := m.eng.Get(ctx, key)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, engineErr("load session", err)
	}
	return &e, nil
}

// fail logs a request that failed because of its session, fingerprint
// fp ("" if none: never the ID), with its cause, and lets the
// ErrorHandler answer it. A conflict is marked retryable at once.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, fp string, err error) {
	if errors.Is(err, ErrConcurrentUpdate) {
		w.Header().Set("Retry-After", "0")
	}
	status := StatusFor(err)
	m.stats.countFailure(status)
	m.cfg.Logger.Error("kiln: session request failed", "method", r.Method, "path", r.URL.Path,
		"status", status, "session", fp, "err", err)
	m.cfg.ErrorHandler(w, r, err)
}

// failedSession is the fingerprint of the session a request failed on:
// the loaded one's, or that of the ID the request sent.
func failedSession(s *Session, in incoming) string {
	if fp := s.fingerprint(); fp != "" {
		return fp
	}
	for _, v := range []string{in.header.value, in.cookie.value} {
		if fp := Fingerprint(v); fp != "" {
			return fp
		}
	}
	return ""
}

func (m *Manager) now() time.Time { return m.cfg.Clock.Now() }

func (m *Manager) engineCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.cfg.EngineTimeout)
}

// idFor returns the client-facing ID of a session.
func (m *Manager) idFor(base string) string { return m.sessionID(base).String() }

// sessionID is idFor, not built yet.
func (m *Manager) sessionID(base string) sessionID {
	if m.cfg.NoIDSuffix {
		return sessionID{base: base}
	}
	return sessionID{base: base, node: m.cfg.Node}
}

func (m *Manager) checkAttrSize(name string, n int) error {
	if n > m.cfg.MaxAttributeSize {
		return fmt.Errorf("put %q: %w: %d bytes, limit %d", name, ErrTooLarge, n, m.cfg.MaxAttributeSize)
	}
	return nil
}
