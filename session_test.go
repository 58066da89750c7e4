package kiln_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

type address struct {
	Street string
	Zip    int
}

type profile struct {
	Name     string
	Tags     []string
	Scores   map[string]float64
	Born     time.Time
	Home     *address
	Verified bool
	Raw      []byte
}

// serve runs h under m for one request carrying cookie (if any) and returns
// the recorder.
func serve(t testing.TB, m *kiln.Manager, cookie string, h http.HandlerFunc) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "kiln_session", Value: cookie})
	}
	rec := httptest.NewRecorder()
	m.Handler(h).ServeHTTP(rec, req)
	return rec
}

func sessionCookie(rec *httptest.ResponseRecorder) string {
	for _, c := range rec.Result().Cookies() {
		if c.Name == "kiln_session" {
			return c.Value
		}
	}
	return ""
}

func TestSession_TypedValuesRoundTrip(t *testing.T) {
	c := mustCluster(t, 2, nil)
	want := profile{
		Name: "Ada", Tags: []string{"x", "y"}, Scores: map[string]float64{"a": 1.5},
		Born: time.Date(1815, 12, 10, 8, 30, 0, 123456789, time.FixedZone("GMT+1", 3600)),
		Home: &address{"Main St", 12345}, Verified: true, Raw: []byte{0, 1, 255},
	}
	rec := serve(t, c.nodes[0].m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		for name, v := range map[string]any{"p": want, "n": 42, "s": "str", "l": []int{3, 2, 1}} {
			if err := s.Put(name, v); err != nil {
				t.Errorf("Put(%s): %v", name, err)
			}
		}
	})
	id := sessionCookie(rec)
	serve(t, c.nodes[1].m, id, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		got, ok, err := kiln.Get[profile](s, "p")
		if err != nil || !ok {
			t.Fatalf("Get[profile]: %v %v", ok, err)
		}
		if !got.Born.Equal(want.Born) || got.Born.Format(time.RFC3339Nano) != want.Born.Format(time.RFC3339Nano) {
			t.Errorf("time = %v, want %v (instant and offset)", got.Born, want.Born)
		}
		got.Born, want.Born = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("profile = %+v, want %+v", got, want)
		}
		if n, _, _ := kiln.Get[int](s, "n"); n != 42 {
			t.Errorf("int = %d", n)
		}
		if l, _, _ := kiln.Get[[]int](s, "l"); !reflect.DeepEqual(l, []int{3, 2, 1}) {
			t.Errorf("slice = %v", l)
		}
		if v, _, _ := s.Get("s"); v != "str" {
			t.Errorf("untyped string = %#v", v)
		}
		if _, _, err := kiln.Get[int](s, "s"); !errors.Is(err, kiln.ErrDecode) {
			t.Errorf("Get[int] of a string: err = %v, want ErrDecode", err)
		}
		if _, ok, err := kiln.Get[int](s, "missing"); ok || err != nil {
			t.Errorf("missing attribute: ok=%v err=%v", ok, err)
		}
	})
}

func TestSession_PointerMutatedInPlace(t *testing.T) {
	c := mustCluster(t, 2, nil)
	rec := serve(t, c.nodes[0].m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("home", &address{"A", 1})
	})
	id := sessionCookie(rec)
	serve(t, c.nodes[1].m, id, func(w http.ResponseWriter, r *http.Request) {
		a, _, _ := kiln.Get[*address](kiln.FromContext(r.Context()), "home")
		a.Zip = 2 // no Put
	})
	serve(t, c.nodes[0].m, id, func(w http.ResponseWriter, r *http.Request) {
		a, _, _ := kiln.Get[*address](kiln.FromContext(r.Context()), "home")
		if a == nil || a.Zip != 2 {
			t.Errorf("after in-place change: %+v, want Zip 2", a)
		}
	})
}

// TestSession_PutThenGetOtherType: a value put, then read back as another
// type, is saved as the request last held it (the read's value), not as
// the Put encoded it.
func TestSession_PutThenGetOtherType(t *testing.T) {
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	rec := serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		s.Put("n", 5)
		if v, ok, err := kiln.Get[float64](s, "n"); v != 5 || !ok || err != nil {
			t.Errorf("Get[float64] = %v %v %v", v, ok, err)
		}
	})
	serve(t, m, sessionCookie(rec), func(w http.ResponseWriter, r *http.Request) {
		v, _, err := kiln.FromContext(r.Context()).Get("n")
		if _, ok := v.(float64); !ok || err != nil {
			t.Errorf("stored n = %T %v (%v), want the float64 the request held last", v, v, err)
		}
	})
}

func TestSession_Accessors(t *testing.T) {
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	start := c.clock.Now()
	rec := serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		if !s.IsNew() || s.ID() != "" {
			t.Errorf("fresh session: IsNew=%v ID=%q", s.IsNew(), s.ID())
		}
		s.Put("b", 1)
		s.Put("a", 2)
		s.SetPrincipal("ada")
		s.SetMaxInactive(time.Hour)
		if !s.Has("a") || s.Has("zz") || !reflect.DeepEqual(s.Keys(), []string{"a", "b"}) {
			t.Errorf("Has/Keys = %v", s.Keys())
		}
	})
	id := sessionCookie(rec)
	c.clock.Advance(30 * time.Minute) // past the default idle timeout of 10m
	serve(t, m, id, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		if s.IsNew() {
			t.Fatal("session with a 1h max-inactive override expired after 30m")
		}
		if s.Principal() != "ada" || s.MaxInactive() != time.Hour || !s.Created().Equal(start) {
			t.Errorf("principal %q, max inactive %v, created %v", s.Principal(), s.MaxInactive(), s.Created())
		}
		if s.ID() != id {
			t.Errorf("ID() = %q, cookie %q", s.ID(), id)
		}
		s.Delete("a")
		if s.Has("a") || !reflect.DeepEqual(s.Keys(), []string{"b"}) {
			t.Errorf("after Delete: Keys = %v", s.Keys())
		}
		s.Invalidate()
		if err := s.Put("x", 1); !errors.Is(err, kiln.ErrSessionInvalidated) {
			t.Errorf("Put after Invalidate: %v", err)
		}
	})
}

// TestHandler_SaveBeforeRespond checks that a failed save replaces the
// handler's response, and that the wrapper keeps Unwrap for
// http.ResponseController.
func TestHandler_SaveBeforeRespond(t *testing.T) {
	logs := &logBuffer{}
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	m := c.nodes[0].m
	rec := serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("a", 1)
	})
	id := sessionCookie(rec)

	c.eng.SetUnavailable(true)
	rec = serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("a", 2)
		w.Write([]byte("saved!"))
	})
	c.eng.SetUnavailable(false)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "saved!") {
		t.Fatalf("failed save: status %d body %q, want 503 without the handler's body", rec.Code, rec.Body)
	}
	if line := logs.String(); !strings.Contains(line, "session request failed") || !strings.Contains(line, "status=503") {
		t.Fatalf("no clear log line for the failed save; log: %q", line)
	}

	rec = serve(t, m, id, func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil &&
			!errors.Is(err, http.ErrNotSupported) {
			t.Errorf("ResponseController through the wrapper: %v", err)
		}
		if _, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok {
			t.Error("the response writer has no Unwrap")
		}
		w.WriteHeader(http.StatusTeapot)
	})
	if rec.Code != http.StatusTeapot {
		t.Fatalf("status = %d, want the handler's 418", rec.Code)
	}
}

func TestConfig_Validate(t *testing.T) {
	cases := map[string]func(*kiln.Config){
		"Node":             func(c *kiln.Config) { c.Node = "bad node" },
		"IdleTimeout":      func(c *kiln.Config) { c.IdleTimeout = 0 },
		"Lifetime":         func(c *kiln.Config) { c.Lifetime = -1 },
		"TouchInterval":    func(c *kiln.Config) { c.TouchInterval = time.Hour },
		"Cookie.Name":      func(c *kiln.Config) { c.Cookie.Name = "a b" },
		"MaxAttributeSize": func(c *kiln.Config) { c.MaxAttributeSize = 0 },
		"MaxSessionSize":   func(c *kiln.Config) { c.MaxSessionSize = 1 },
		"MaxAttributes":    func(c *kiln.Config) { c.MaxAttributes = 1000 },
		"EngineTimeout":    func(c *kiln.Config) { c.EngineTimeout = 0 },
		"ReportInterval":   func(c *kiln.Config) { c.ReportInterval = -time.Second },
		"Clock":            func(c *kiln.Config) { c.Clock = nil },
	}
	for field, breakIt := range cases {
		t.Run(field, func(t *testing.T) {
			cfg := kiln.DefaultConfig()
			breakIt(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), field+" ") {
				t.Fatalf("Validate() = %v, want an error naming %s", err, field)
			}
		})
	}
	if cfg := kiln.DefaultConfig(); cfg.Validate() != nil {
		t.Fatalf("DefaultConfig invalid: %v", cfg.Validate())
	}
}

func TestCookie_Attributes(t *testing.T) {
	c := mustCluster(t, 1, nil)
	req := httptest.NewRequest("GET", "https://example.test/", nil) // r.TLS set
	rec := httptest.NewRecorder()
	c.nodes[0].m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("a", 1)
	})).ServeHTTP(rec, req)
	ck := rec.Result().Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || !ck[0].Secure || ck[0].SameSite != http.SameSiteLaxMode || ck[0].Path != "/" {
		t.Fatalf("cookie = %+v, want HttpOnly, Secure (TLS), SameSite=Lax, Path=/", ck)
	}
}

// TestFromContext_DerivedContext: the request's context carries the
// session to contexts derived from it, and still carries the values and
// the cancellation of the context the request came with.
func TestFromContext_DerivedContext(t *testing.T) {
	c := mustCluster(t, 1, nil)
	type outerKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), outerKey{}, "outer"))
	h := c.nodes[0].m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		derived, stop := context.WithTimeout(r.Context(), time.Minute)
		defer stop()
		if s == nil || kiln.FromContext(derived) != s {
			t.Errorf("FromContext of a derived context = %p, want %p", kiln.FromContext(derived), s)
		}
		if v := derived.Value(outerKey{}); v != "outer" {
			t.Errorf("outer value = %v", v)
		}
		cancel()
		<-derived.Done() // the request's cancellation reaches it
		if !errors.Is(derived.Err(), context.Canceled) {
			t.Errorf("derived.Err() = %v, want context.Canceled", derived.Err())
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(parent, "GET", "/", nil))
}
