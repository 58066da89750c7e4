package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/console"
)

// TestConsole_LoginRateLimit: past 5 attempts from one address, a login
// gets 429 without its password being checked, even a right one; 12s
// later one more attempt may go.
func TestConsole_LoginRateLimit(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := mustRig(t, func(o *console.Options) { o.Clock = clk })
	b := newBrowser(t)
	for i := range 5 {
		if status, _ := b.do(http.MethodPost, r.console.URL+"/console/login", url.Values{"user": {"ops"}, "password": {fmt.Sprint(i)}}); status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, status)
		}
	}
	right := url.Values{"user": {"ops"}, "password": {adminPassword}}
	if status, _ := b.do(http.MethodPost, r.console.URL+"/console/login", right); status != http.StatusTooManyRequests {
		t.Fatalf("the 6th attempt: status %d, want 429", status)
	}
	clk.Advance(12 * time.Second)
	if status, body := b.do(http.MethodPost, r.console.URL+"/console/login", right); status != http.StatusOK || !strings.Contains(body, "Cluster") {
		t.Fatalf("12s later: status %d, want logged in", status)
	}
}

// countingSessions counts CountSessions calls, can make InvalidateKey
// ambiguous (applied, then an error: an acknowledgement lost) and can
// make every read fail as an engine that is down does.
type countingSessions struct {
	*kiln.Manager
	counts    atomic.Int32
	ambiguous atomic.Bool
	down      atomic.Bool
}

var errDown = fmt.Errorf("injected: engine down: %w", kiln.ErrUnavailable)

func (s *countingSessions) ListSessions(ctx context.Context, cursor string, limit int) ([]kiln.SessionInfo, string, error) {
	if s.down.Load() {
		return nil, "", errDown
	}
	return s.Manager.ListSessions(ctx, cursor, limit)
}

func (s *countingSessions) Sessions(ctx context.Context, principal string) ([]kiln.SessionInfo, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Manager.Sessions(ctx, principal)
}

func (s *countingSessions) SessionDetail(ctx context.Context, key string) (kiln.SessionDetail, bool, error) {
	if s.down.Load() {
		return kiln.SessionDetail{}, false, errDown
	}
	return s.Manager.SessionDetail(ctx, key)
}

func (s *countingSessions) CountSessions(ctx context.Context) (int, error) {
	s.counts.Add(1)
	return s.Manager.CountSessions(ctx)
}

func (s *countingSessions) InvalidateKey(ctx context.Context, key string) (bool, error) {
	ended, err := s.Manager.InvalidateKey(ctx, key)
	if err == nil && s.ambiguous.Load() {
		return false, fmt.Errorf("injected: ack lost: %w", kiln.ErrUnavailable)
	}
	return ended, err
}

// TestConsole_CountCached: page views share one count per sample
// interval: the console does not list every key per view.
func TestConsole_CountCached(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var cs *countingSessions
	r := mustRig(t, func(o *console.Options) {
		cs = &countingSessions{Manager: o.Sessions.(*kiln.Manager)}
		o.Sessions, o.Clock = cs, clk
	})
	b := newBrowser(t)
	b.login(r.console.URL, "ops", adminPassword)
	for range 5 {
		b.must(http.MethodGet, r.console.URL+"/console/sessions", nil)
		b.must(http.MethodGet, r.console.URL+"/console/", nil)
	}
	if n := cs.counts.Load(); n != 1 {
		t.Fatalf("10 page views counted the sessions %d times, want once", n)
	}
}

// TestConsole_InvalidateAmbiguous: an invalidation whose outcome is
// unknown answers 503 and says it may or may not have happened, and logs
// the cause; never "invalidated".
func TestConsole_InvalidateAmbiguous(t *testing.T) {
	var cs *countingSessions
	r := mustRig(t, func(o *console.Options) {
		cs = &countingSessions{Manager: o.Sessions.(*kiln.Manager)}
		o.Sessions = cs
	})
	r.userSession(t, "erin")
	key := r.keyOf(t, "erin")
	b := newBrowser(t)
	token := b.login(r.console.URL, "ops", adminPassword)
	cs.ambiguous.Store(true)
	status, body := b.do(http.MethodPost, r.console.URL+"/console/sessions/"+key+"/invalidate", url.Values{"csrf": {token}})
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "may or may not") || strings.Contains(body, "is invalidated") {
		t.Fatalf("ambiguous invalidation: status %d:\n%s", status, body)
	}
	if log := r.log.String(); !strings.Contains(log, "ack lost") || !strings.Contains(log, "status=503") {
		t.Fatalf("no log line with the cause:\n%s", log)
	}
}

// TestConsole_Charts: every sample interval adds a point; the charts
// page draws the samples as SVG lines once it has two.
func TestConsole_Charts(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := mustRig(t, func(o *console.Options) { o.Clock = clk })
	r.userSession(t, "frank")
	b := newBrowser(t)
	b.login(r.console.URL, "ops", adminPassword)
	if page := b.must(http.MethodGet, r.console.URL+"/console/charts", nil); strings.Contains(page, "<polyline") {
		t.Fatal("lines before any sample")
	}
	clk.Advance(10 * time.Second)
	clk.Advance(10 * time.Second)
	page := b.must(http.MethodGet, r.console.URL+"/console/charts", nil)
	if strings.Count(page, "<polyline") < 7 || !strings.Contains(page, "live: 1") {
		t.Fatalf("after two samples: want a line per series and 1 live session:\n%s", page)
	}
}

// TestConsole_EngineDown: with the engine down the session pages answer
// 503 with the cause, and log it; nothing is shown as if empty.
func TestConsole_EngineDown(t *testing.T) {
	var cs *countingSessions
	r := mustRig(t, func(o *console.Options) {
		cs = &countingSessions{Manager: o.Sessions.(*kiln.Manager)}
		o.Sessions = cs
	})
	r.userSession(t, "gina")
	key := r.keyOf(t, "gina")
	b := newBrowser(t)
	b.login(r.console.URL, "ops", adminPassword)
	cs.down.Store(true)
	for _, p := range []string{"/console/sessions", "/console/sessions?principal=gina", "/console/sessions/" + key} {
		status, body := b.do(http.MethodGet, r.console.URL+p, nil)
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "engine down") || strings.Contains(body, "No live session") {
			t.Errorf("GET %s with the engine down: status %d, want 503 with the cause:\n%s", p, status, body)
		}
	}
	if n := strings.Count(r.log.String(), "engine down"); n != 3 {
		t.Fatalf("%d log lines name the cause, want 3:\n%s", n, r.log.String())
	}
}
