package kiln_test

import (
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

type hidden struct{ secret string }

type outer struct {
	Name  string
	Inner struct{ Flag bool }
	Deep  []map[string]*hidden
}

type skipped struct {
	Name  string
	cache map[string]int `cbor:"-"` // deliberately not stored
}

type embedsExported struct {
	hiddenBase // unexported embedded struct: its exported fields are promoted
}

type hiddenBase struct{ Visible int }

type list struct {
	Value int
	Next  *list // recursive
}

// level has only unexported state but marshals itself as text.
type level struct{ n int }

func (l level) MarshalText() ([]byte, error) { return []byte(strings.Repeat("*", l.n)), nil }
func (l *level) UnmarshalText(b []byte) error {
	l.n = len(b)
	return nil
}

// TestPut_RefusesValuesThatCannotRoundTrip (issue 16, item 3): a value whose
// type has an unexported field (which would be lost) is refused by Put with
// ErrEncode naming the type and the field; types that marshal themselves,
// times and fields tagged "-" are stored.
func TestPut_RefusesValuesThatCannotRoundTrip(t *testing.T) {
	refused := map[string]struct {
		v    any
		want string // in the error
	}{
		"Struct":      {hidden{"x"}, "type kiln_test.hidden: field secret is unexported and would not be stored"},
		"Pointer":     {&hidden{"x"}, "kiln_test.hidden: field secret"},
		"Nested":      {outer{}, "type kiln_test.hidden: field secret is unexported and would not be stored (export it, or tag it `cbor:\"-\"` to leave it out), in kiln_test.outer.Deep"},
		"InInterface": {map[string]any{"h": hidden{"x"}}, "kiln_test.hidden: field secret"},
		"InSlice":     {[]any{1, []any{hidden{}}}, "kiln_test.hidden: field secret"},
	}
	stored := map[string]any{
		"Time":            time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		"Skipped":         skipped{Name: "a"},
		"Embedded":        embedsExported{hiddenBase{3}},
		"Recursive":       &list{1, &list{2, nil}},
		"BinaryMarshaler": netip.MustParseAddr("10.0.0.1"),
		"TextMarshaler":   level{3},
		"BigInt":          big.NewInt(7),
		"Nil":             nil,
	}
	c := mustCluster(t, 1, nil)
	serve(t, c.nodes[0].m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		for name, tc := range refused {
			err := s.Put(name, tc.v)
			if !errors.Is(err, kiln.ErrEncode) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Put(%s) = %v, want ErrEncode containing %q", name, err, tc.want)
			}
		}
		for name, v := range stored {
			if err := s.Put(name, v); err != nil {
				t.Errorf("Put(%s) = %v, want nil", name, err)
			}
		}
	})
}

// TestPut_RoundTripsSelfMarshalingTypes (issue 16, item 3): the types the
// check lets through come back equal from the next request.
func TestPut_RoundTripsSelfMarshalingTypes(t *testing.T) {
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	cookie := sessionCookie(serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		s.Put("level", level{3})
		s.Put("addr", netip.MustParseAddr("10.0.0.1"))
		s.Put("skipped", skipped{Name: "a", cache: map[string]int{"x": 1}})
	}))
	serve(t, m, cookie, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		if l, _, err := kiln.Get[level](s, "level"); err != nil || l.n != 3 {
			t.Errorf("Get[level] = %+v, %v; want {n:3}", l, err)
		}
		if a, _, err := kiln.Get[netip.Addr](s, "addr"); err != nil || a.String() != "10.0.0.1" {
			t.Errorf("Get[netip.Addr] = %v, %v", a, err)
		}
		if v, _, err := kiln.Get[skipped](s, "skipped"); err != nil || v.Name != "a" || v.cache != nil {
			t.Errorf("Get[skipped] = %+v, %v; want Name a and no cache", v, err)
		}
	})
}

// TestGet_RefusesTypeThatCannotRoundTrip (issue 16, item 3): Get[T] with a
// T that would lose fields fails with ErrEncode rather than returning a
// zero value with ok true.
func TestGet_RefusesTypeThatCannotRoundTrip(t *testing.T) {
	c := mustCluster(t, 1, nil)
	m := c.nodes[0].m
	cookie := sessionCookie(serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("h", map[string]string{"secret": "x"})
	}))
	rec := serve(t, m, cookie, func(w http.ResponseWriter, r *http.Request) {
		_, ok, err := kiln.Get[hidden](kiln.FromContext(r.Context()), "h")
		if ok || !errors.Is(err, kiln.ErrEncode) || !strings.Contains(err.Error(), "field secret") {
			t.Errorf("Get[hidden] = ok %v, %v; want ErrEncode naming the field", ok, err)
		}
	})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: a refused Get must not fail the save", rec.Code)
	}
}

// TestSave_RefusesValueMutatedIntoOneThatCannotRoundTrip (issue 16, item
// 3): a value changed in place to hold something that would be lost fails
// the save (500, ErrEncode) instead of storing it without its fields.
func TestSave_RefusesValueMutatedIntoOneThatCannotRoundTrip(t *testing.T) {
	logs := &logBuffer{}
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	m := c.nodes[0].m
	cookie := sessionCookie(serve(t, m, "", func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("prefs", map[string]any{"theme": "dark"})
	}))
	rec := serve(t, m, cookie, func(w http.ResponseWriter, r *http.Request) {
		prefs, _, _ := kiln.Get[map[string]any](kiln.FromContext(r.Context()), "prefs")
		prefs["h"] = hidden{"x"} // in place, no Put
	})
	if rec.Code != http.StatusInternalServerError || !strings.Contains(logs.String(), "field secret") {
		t.Fatalf("status %d, log %q: want 500 and a log naming the field", rec.Code, logs.String())
	}
	serve(t, m, cookie, func(w http.ResponseWriter, r *http.Request) {
		prefs, _, err := kiln.Get[map[string]any](kiln.FromContext(r.Context()), "prefs")
		if _, ok := prefs["h"]; ok || err != nil {
			t.Errorf("prefs = %v, %v: want the refused change not saved", prefs, err)
		}
	})
}
