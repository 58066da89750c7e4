package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kilnhq/kiln"
)

// TestStickyRev_DecodeHookCannotCorruptCachedCopy: the near-cache copy's
// inline values are shared by every request restored from it, so the
// bytes a request hands out must not be that copy. An OnDecodeError hook
// that scribbles over DecodeFailure.Raw (it was given the shared inline
// value) changed what the next request on the node read, while the engine
// held the original.
func TestStickyRev_DecodeHookCannotCorruptCachedCopy(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) {
		cfg.OnDecodeError = func(_ context.Context, f kiln.DecodeFailure) (any, error) {
			for i := range f.Raw {
				f.Raw[i] = 0xf6 // null
			}
			return nil, context.Canceled
		}
	})
	n := c.nodes[0]
	u := newUser(t)
	u.must(n, "POST", "/put", kv("k", "name", "v", "hello"))
	url := httptestServer(t, n.m, func(w http.ResponseWriter, r *http.Request) {
		_, _, err := kiln.Get[int](kiln.FromContext(r.Context()), "name")
		if err == nil {
			t.Error("a string decoded as int")
		}
		w.WriteHeader(http.StatusNoContent)
	})
	req, _ := http.NewRequest("GET", url, nil)
	req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(n)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := u.must(n, "GET", "/get?k=name", nil); got["value"] != "hello" {
		t.Fatalf("after a decode hook scribbled over its Raw, the next request reads %v, want hello", got)
	}
}

// TestStickyRev_ChangeListenerCannotCorruptCachedCopy: AttributeChange.Value
// was the saved bytes themselves, which the near-cache copy keeps (inline
// in its index, or as a cached value): a listener writing to it changed
// what the next request on the node read.
func TestStickyRev_ChangeListenerCannotCorruptCachedCopy(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) {
		cfg.OnAttributeChanged = func(_ context.Context, ch kiln.AttributeChange) {
			for i := range ch.Value {
				ch.Value[i] = 0xf6
			}
		}
	})
	n := c.nodes[0]
	u := newUser(t)
	u.must(n, "POST", "/put", kv("k", "name", "v", "hello"))
	if got := u.must(n, "GET", "/get?k=name", nil); got["value"] != "hello" {
		t.Fatalf("after a listener scribbled over its Value, the next request reads %v, want hello", got)
	}
}

// TestStickyRev_CachedRenewKeepsEveryAttribute: a renewal and then a
// save, each on a session restored from the near cache (its index the
// shared slice), keep every attribute, inline or not, loaded or not.
func TestStickyRev_CachedRenewKeepsEveryAttribute(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n := c.nodes[0]
	u := newUser(t)
	big := strings.Repeat("b", 3000)
	u.must(n, "POST", "/put", kv("k", "small", "v", "s"))
	u.must(n, "POST", "/put", kv("k", "big", "v", big))
	u.must(n, "POST", "/put", kv("k", "other", "v", "o"))
	u.must(n, "POST", "/renew", nil)
	u.must(n, "POST", "/put", kv("k", "small", "v", "s2"))
	u.must(n, "POST", "/renew", nil)
	for k, want := range map[string]string{"small": "s2", "big": big, "other": "o"} {
		if got := u.must(n, "GET", "/get?k="+k, nil); got["value"] != want {
			t.Errorf("%s after renewals: %.20v, want %.20s", k, got["value"], want)
		}
	}
	if keys := u.must(n, "GET", "/info", nil)["keys"]; len(keys.([]any)) != 3 {
		t.Errorf("keys %v, want 3", keys)
	}
	// From the engine, not the copy: a second node.
	m := mustNode(t, c, "n2", nil)
	for k, want := range map[string]string{"small": "s2", "big": big, "other": "o"} {
		if got := u.must(m, "GET", "/get?k="+k, nil); got["value"] != want {
			t.Errorf("%s on n2: %.20v, want %.20s", k, got["value"], want)
		}
	}
}

type stickyKey struct{}

// TestStickyRev_SessionContextDerived: the request's context (one
// allocation with the request state, not context.WithValue) answers
// other keys from the context under it, and contexts derived from it
// carry the session and see its cancellation.
func TestStickyRev_SessionContextDerived(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n := c.nodes[0]
	h := n.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		if s == nil {
			t.Fatal("no session")
		}
		if r.Context().Value(stickyKey{}) != "outer" {
			t.Error("the outer middleware's value is lost")
		}
		ctx, cancel := context.WithCancel(r.Context())
		ctx = context.WithValue(ctx, stickyKey{}, "inner")
		if kiln.FromContext(ctx) != s || kiln.FromContext(context.WithoutCancel(ctx)) != s {
			t.Error("a derived context lost the session")
		}
		if ctx.Value(stickyKey{}) != "inner" || ctx.Value("absent") != nil {
			t.Error("derived values wrong")
		}
		cancel()
		<-ctx.Done()
		if r.Context().Err() != nil {
			t.Error("cancelling a derived context cancelled the request's")
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	outer, cancelOuter := context.WithCancelCause(context.WithValue(context.Background(), stickyKey{}, "outer"))
	defer cancelOuter(nil)
	req := httptest.NewRequestWithContext(outer, "GET", "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d", rec.Code)
	}
	// The request's context follows the one under it.
	var seen context.Context
	h = n.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cancel context.CancelFunc
		seen, cancel = context.WithCancel(r.Context())
		t.Cleanup(cancel)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(outer, "GET", "/", nil))
	cause := errors.New("gone")
	cancelOuter(cause)
	<-seen.Done()
	if context.Cause(seen) != cause {
		t.Errorf("cause %v, want %v", context.Cause(seen), cause)
	}
}

type stickyTags []string

type stickyHolder struct {
	M map[string]int
	P [1]*int
}

// TestStickyRev_PutThenMutateIsSaved: a value put and then changed in
// place before the response is saved as it is at the save, whatever kind
// holds the mutable part (Put keeps its own encoding only of values that
// cannot change in place).
func TestStickyRev_PutThenMutateIsSaved(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n := c.nodes[0]
	u := newUser(t)
	u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
	url := httptestServer(t, n.m, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		tags := stickyTags{"a"}
		one := 1
		h := stickyHolder{M: map[string]int{"a": 1}, P: [1]*int{&one}}
		hp := &stickyHolder{M: map[string]int{"a": 1}}
		arr := [1]*int{&one}
		for k, v := range map[string]any{"tags": tags, "h": h, "hp": hp, "arr": arr} {
			if err := s.Put(k, v); err != nil {
				t.Error(err)
			}
		}
		tags[0] = "b"
		h.M["a"] = 2
		hp.M["a"] = 2
		one = 2
		w.WriteHeader(http.StatusNoContent)
	})
	req, _ := http.NewRequest("POST", url, nil)
	req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(n)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m := mustNode(t, c, "n2", nil) // from the engine
	for _, nd := range []*testNode{n, m} {
		for k, want := range map[string]string{
			"tags": "[b]", "h": "map[M:map[a:2] P:[2]]", "hp": "map[M:map[a:2] P:[<nil>]]", "arr": "[2]",
		} {
			got := u.must(nd, "GET", "/get?k="+k, nil)["value"]
			if s := fmt.Sprint(got); s != want {
				t.Errorf("%s on %s: %s, want %s", k, nd.name, s, want)
			}
		}
	}
}

// TestStickyRev_FailedSaveLeavesNoChangedCopy: a save refused or lost at
// its commit point (here: unavailable, outcome unknown) on a session
// restored from the near cache leaves nothing of the request's changes
// in the copy the next request on the node restores.
func TestStickyRev_FailedSaveLeavesNoChangedCopy(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n := c.nodes[0]
	u := newUser(t)
	big := strings.Repeat("b", 3000)
	u.must(n, "POST", "/put", kv("k", "small", "v", "s"))
	u.must(n, "POST", "/put", kv("k", "big", "v", big))
	u.must(n, "GET", "/get?k=big", nil) // cached
	n.eng.failMeta.Store(true)
	if status, _ := u.do(n, "POST", "/put", kv("k", "small", "v", "changed")); status == http.StatusOK {
		t.Fatal("the save succeeded")
	}
	if status, _ := u.do(n, "POST", "/put", kv("k", "big", "v", "changed")); status == http.StatusOK {
		t.Fatal("the save succeeded")
	}
	n.eng.failMeta.Store(false)
	for k, want := range map[string]string{"small": "s", "big": big} {
		if got := u.must(n, "GET", "/get?k="+k, nil)["value"]; got != want {
			t.Errorf("%s after failed saves: %.20v, want %.20s", k, got, want)
		}
	}
}
