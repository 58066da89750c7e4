package kiln_test

import (
	"context"
	"net/http"
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
