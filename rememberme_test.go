package kiln_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

// TestRememberMe_Cookie (issue 16, item 5): a remembered session gets a
// persistent cookie (Max-Age: the time left of Config.RememberLifetime),
// for that session alone; an anonymous visitor keeps a browser-session
// cookie; forgetting makes it a browser-session cookie again.
func TestRememberMe_Cookie(t *testing.T) {
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	anon := serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("cart", 1)
	})
	if h := anon.Header().Get("Set-Cookie"); h == "" || strings.Contains(h, "Max-Age") {
		t.Fatalf("anonymous Set-Cookie %q: want a browser-session cookie", h)
	}
	login := func(cookie string, remember bool) *http.Cookie {
		t.Helper()
		rec := serve(t, m, cookie, func(w http.ResponseWriter, r *http.Request) {
			s := kiln.FromContext(r.Context())
			if err := errors.Join(s.SetPrincipal("ada"), s.RenewID(), s.SetRememberMe(remember)); err != nil {
				t.Errorf("login: %v", err)
			}
		})
		ck := rec.Result().Cookies()
		if len(ck) != 1 {
			t.Fatalf("login (remember %v): cookies %v, want one", remember, ck)
		}
		return ck[0]
	}
	month := int(m.Config().RememberLifetime / time.Second)
	if ck := login("", true); ck.MaxAge != month {
		t.Errorf("new session remembered: Max-Age %d, want %d", ck.MaxAge, month)
	}
	existing := sessionCookie(anon)
	c.clock.Advance(5 * time.Minute)
	remembered := login(existing, true) // an existing session: renewed, then persistent
	if remembered.MaxAge != month-300 || remembered.Value == existing {
		t.Errorf("existing session remembered: cookie %+v, want a new ID with Max-Age %d", remembered, month-300)
	}
	c.clock.Advance(2 * time.Hour) // past IdleTimeout (10m), with leases
	if rec := serve(t, m, remembered.Value, func(w http.ResponseWriter, r *http.Request) {
		if kiln.FromContext(r.Context()).IsNew() {
			t.Error("remembered session ended after 2 idle hours")
		}
	}); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	forgot := serve(t, m, remembered.Value, func(w http.ResponseWriter, r *http.Request) {
		if err := kiln.FromContext(r.Context()).SetRememberMe(false); err != nil {
			t.Errorf("SetRememberMe(false): %v", err)
		}
	})
	if h := forgot.Header().Get("Set-Cookie"); h == "" || strings.Contains(h, "Max-Age") {
		t.Errorf("forgotten Set-Cookie %q: want a browser-session cookie", h)
	}
}

// TestRememberMe_OutlivesIdleTimeout (issue 16, item 5): a remembered
// session survives idle periods far beyond Config.IdleTimeout (up to
// RememberIdleTimeout) and ends at RememberLifetime; an anonymous session
// idle as long ends.
func TestRememberMe_OutlivesIdleTimeout(t *testing.T) {
	// IdleTimeout 10m, Lifetime 24h; no leases, whose liveness timer would
	// fire every 2 s of the days the fake clock skips.
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.NoLeases = true })
	m := c.nodes[0].m
	put := func(remember bool) string {
		return sessionCookie(serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
			s := kiln.FromContext(r.Context())
			s.Put("a", 1)
			if remember {
				s.SetRememberMe(true)
			}
		}))
	}
	alive := func(cookie string) bool {
		var ok bool
		serve(t, m, cookie, func(w http.ResponseWriter, r *http.Request) {
			_, ok, _ = kiln.Get[int](kiln.FromContext(r.Context()), "a")
		})
		return ok
	}
	anon, remembered := put(false), put(true)
	if got := m.Config().RememberIdleTimeout; got != 7*24*time.Hour {
		t.Fatalf("RememberIdleTimeout default %v, want 168h", got)
	}
	for days := 4; days <= 28; days += 4 { // 4 idle days at a time, well past IdleTimeout and Lifetime
		c.clock.Advance(4 * 24 * time.Hour)
		if !alive(remembered) {
			t.Fatalf("remembered session ended after %d days", days)
		}
	}
	if alive(anon) {
		t.Fatal("anonymous session outlived its idle timeout")
	}
	c.clock.Advance(3 * 24 * time.Hour) // day 31: past RememberLifetime
	if alive(remembered) {
		t.Fatal("remembered session outlived RememberLifetime")
	}
}

// TestSession_SetMaxInactiveBeyondLifetime (issue 16, item 4): an idle
// timeout the session's lifetime would cut short is refused (ErrTooLarge)
// rather than accepted and not honoured; a remembered session's lifetime
// is RememberLifetime.
func TestSession_SetMaxInactiveBeyondLifetime(t *testing.T) {
	c := mustCluster(t, 1, nil)
	serve(t, c.nodes[0].m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		if err := s.SetMaxInactive(30 * 24 * time.Hour); !errors.Is(err, kiln.ErrTooLarge) || !strings.Contains(err.Error(), "lifetime") {
			t.Errorf("SetMaxInactive(720h) with Lifetime 24h = %v, want ErrTooLarge naming the lifetime", err)
		}
		if err := s.SetMaxInactive(2 * time.Hour); err != nil || s.MaxInactive() != 2*time.Hour {
			t.Errorf("SetMaxInactive(2h) = %v, MaxInactive %v", err, s.MaxInactive())
		}
		if err := s.SetRememberMe(true); err != nil || s.MaxInactive() != 7*24*time.Hour {
			t.Errorf("SetRememberMe(true) = %v, MaxInactive %v, want 168h", err, s.MaxInactive())
		}
		if err := s.SetMaxInactive(20 * 24 * time.Hour); err != nil {
			t.Errorf("remembered: SetMaxInactive(480h) = %v, want nil", err)
		}
	})
}

// TestConfig_ValidateTimeouts (issue 16, item 4): timeouts that cannot hold
// together are refused, naming the field; a Lifetime beyond the remember
// defaults is not (remembering then keeps Lifetime).
func TestConfig_ValidateTimeouts(t *testing.T) {
	cases := map[string]func(*kiln.Config){
		"IdleTimeout":         func(c *kiln.Config) { c.IdleTimeout = 48 * time.Hour },
		"RememberIdleTimeout": func(c *kiln.Config) { c.RememberIdleTimeout = 60 * 24 * time.Hour },
	}
	for field, breakIt := range cases {
		cfg := kiln.DefaultConfig()
		breakIt(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), field+" ") {
			t.Errorf("%s: Validate() = %v, want an error naming %s", field, err, field)
		}
	}
	cfg := kiln.DefaultConfig()
	cfg.Lifetime, cfg.IdleTimeout = 90*24*time.Hour, 10*24*time.Hour
	if err := cfg.Validate(); err != nil {
		t.Errorf("Lifetime 90 days, IdleTimeout 10 days: Validate() = %v, want nil", err)
	}
}

// TestRememberMe_NeverShortens: with Lifetime and IdleTimeout beyond the
// remember settings, a remembered session keeps them.
func TestRememberMe_NeverShortens(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) {
		cfg.Lifetime, cfg.IdleTimeout = 90*24*time.Hour, 10*24*time.Hour
	})
	rec := serve(t, c.nodes[0].m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		if err := s.SetRememberMe(true); err != nil || s.MaxInactive() != 10*24*time.Hour {
			t.Errorf("SetRememberMe = %v, MaxInactive %v; want 240h", err, s.MaxInactive())
		}
	})
	if ck := rec.Result().Cookies(); len(ck) != 1 || ck[0].MaxAge != 90*24*3600 {
		t.Fatalf("cookies %v, want Max-Age of 90 days", ck)
	}
}

// TestRememberMe_SurvivesTakeover (issue 16, item 5): a node that takes a
// remembered session over from a dead holder fences its meta record
// without cutting its lifetime back to Config.Lifetime: the session is
// still there a day and more later.
func TestRememberMe_SurvivesTakeover(t *testing.T) {
	tweak := func(cfg *kiln.Config) {
		fastLeases(cfg)
		cfg.LivenessTTL = time.Minute // fewer liveness timers over the day the clock skips
	}
	c := mustCluster(t, 2, tweak)
	a, b := c.nodes[0], c.nodes[1]
	cookie := sessionCookie(serve(t, a.m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		s.Put("a", 1)
		s.SetRememberMe(true)
	}))
	a.eng.dead.Store(true)
	c.clock.Advance(2 * time.Minute) // past a's liveness: b takes the lease over and fences
	read := func(n *testNode) (int, bool) {
		var v int
		var ok bool
		if rec := serve(t, n.m, cookie, func(w http.ResponseWriter, r *http.Request) {
			v, ok, _ = kiln.Get[int](kiln.FromContext(r.Context()), "a")
		}); rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		return v, ok
	}
	if v, ok := read(b); !ok || v != 1 {
		t.Fatalf("after the takeover: a = %d, %v", v, ok)
	}
	if s := b.m.Stats(); s.Steals != 1 {
		t.Fatalf("steals = %d, want 1 (the takeover with its fence)", s.Steals)
	}
	c.clock.Advance(25 * time.Hour) // past Lifetime + the data grace, within RememberIdleTimeout
	fresh := mustNode(t, c, "n3", tweak)
	if v, ok := read(fresh); !ok || v != 1 { // a node without a copy loads it from the engine
		t.Fatalf("25 h after the takeover: a = %d, %v; want the remembered session", v, ok)
	}
}

// TestNATS_RememberMe: on a real NATS server a remembered session's
// 30-day records (TTL headers) are accepted and the session comes back.
func TestNATS_RememberMe(t *testing.T) {
	c := mustNATSCluster(t, 2)
	rec := serve(t, c.nodes[0].m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		if err := errors.Join(s.Put("a", 1), s.SetRememberMe(true)); err != nil {
			t.Errorf("remember: %v", err)
		}
	})
	ck := rec.Result().Cookies()
	if rec.Code != http.StatusOK || len(ck) != 1 || ck[0].MaxAge < 30*24*3600-60 {
		t.Fatalf("status %d, cookies %v: want a 30-day cookie", rec.Code, ck)
	}
	serve(t, c.nodes[1].m, ck[0].Value, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		if v, _, err := kiln.Get[int](s, "a"); v != 1 || err != nil || !s.RememberMe() {
			t.Errorf("on the other node: a = %d, %v, remembered %v", v, err, s.RememberMe())
		}
	})
}
