package kiln_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/kilnhq/kiln"
)

// TestPop (issue 16, item 6): Pop returns a flash once and removes it; a
// missing one is (zero, false, nil).
func TestPop(t *testing.T) {
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	cookie := sessionCookie(serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("flash", "saved")
	}))
	pop := func() (string, bool, error) {
		var v string
		var ok bool
		var err error
		serve(t, m, cookie, func(w http.ResponseWriter, r *http.Request) {
			v, ok, err = kiln.Pop[string](kiln.FromContext(r.Context()), "flash")
		})
		return v, ok, err
	}
	if v, ok, err := pop(); v != "saved" || !ok || err != nil {
		t.Fatalf("first Pop = %q, %v, %v; want saved", v, ok, err)
	}
	if v, ok, err := pop(); v != "" || ok || err != nil {
		t.Fatalf("second Pop = %q, %v, %v; want nothing", v, ok, err)
	}
	serve(t, m, cookie, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		s.Put("flash", "late")
		w.WriteHeader(http.StatusOK) // saved here; a Pop now cannot delete
		if v, ok, err := kiln.Pop[string](s, "flash"); v != "late" || !ok || !errors.Is(err, kiln.ErrResponseStarted) {
			t.Errorf("Pop after the response started = %q, %v, %v; want the value and ErrResponseStarted", v, ok, err)
		}
	})
}

// TestGetOr (issue 16, item 6): GetOr gives the default for a missing
// attribute and, logged, for one that cannot be decoded as T.
func TestGetOr(t *testing.T) {
	logs := &logBuffer{}
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	serve(t, c.nodes[0].m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		s.Put("theme", "dark")
		s.Put("n", "not a number")
		if got := kiln.GetOr(s, "theme", "light"); got != "dark" {
			t.Errorf("GetOr(theme) = %q, want dark", got)
		}
		if got := kiln.GetOr(s, "missing", "light"); got != "light" {
			t.Errorf("GetOr(missing) = %q, want the default", got)
		}
		if got := kiln.GetOr(s, "n", 7); got != 7 {
			t.Errorf("GetOr(n) of a string as int = %d, want the default", got)
		}
	})
	if !strings.Contains(logs.String(), "cannot decode") || !strings.Contains(logs.String(), "attribute=n") {
		t.Fatalf("log %q: want the decode error logged with the attribute", logs.String())
	}
}
