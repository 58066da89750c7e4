package kiln_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kilnhq/kiln"
)

// cartV1 is a cart as an older release stored it; cartV2 the current one.
type (
	cartV1 struct{ Items []string }
	cartV2 struct{ Items map[string]int }
)

// migrateCart is the OnDecodeError of docs/types.md: it turns a stored
// cartV1 into a cartV2, drops an attribute "junk" that no longer fits,
// and leaves every other failure as it was.
func migrateCart(_ context.Context, f kiln.DecodeFailure) (any, error) {
	switch {
	case f.Name == "cart" && f.Target == reflect.TypeFor[cartV2]():
		var old cartV1
		if err := kiln.Decode(f.Raw, &old); err != nil {
			return nil, nil // neither shape: drop it
		}
		c := cartV2{Items: map[string]int{}}
		for _, it := range old.Items {
			c.Items[it]++
		}
		return c, nil
	case f.Name == "junk":
		return nil, nil
	}
	return nil, f.Err
}

// TestDecodeHook (issue 13): Config.OnDecodeError migrates an attribute
// that no longer decodes (the new value is returned and saved back, so
// the hook runs once), drops it, or keeps the error; without a hook Get
// fails with ErrDecode. The rest of the session is unaffected.
func TestDecodeHook(t *testing.T) {
	var calls atomic.Int32
	hook := func(ctx context.Context, f kiln.DecodeFailure) (any, error) {
		calls.Add(1)
		return migrateCart(ctx, f)
	}
	c := mustCluster(t, 2, func(cfg *kiln.Config) { cfg.OnDecodeError = hook })
	old := func() string {
		return sessionCookie(serve(t, c.nodes[0].m, "", func(_ http.ResponseWriter, r *http.Request) {
			s := kiln.FromContext(r.Context())
			s.Put("cart", cartV1{Items: []string{"apple", "apple", "pear"}})
			s.Put("junk", "text")
			s.Put("n", 1)
		}))
	}
	t.Run("Migrate", func(t *testing.T) {
		id, want := old(), cartV2{Items: map[string]int{"apple": 2, "pear": 1}}
		calls.Store(0)
		serve(t, c.nodes[0].m, id, func(_ http.ResponseWriter, r *http.Request) {
			if got, ok, err := kiln.Get[cartV2](kiln.FromContext(r.Context()), "cart"); !ok || err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Get = %v, %v, %v; want %v", got, ok, err, want)
			}
		})
		serve(t, c.nodes[1].m, id, func(_ http.ResponseWriter, r *http.Request) { // another node: from the engine
			if got, _, err := kiln.Get[cartV2](kiln.FromContext(r.Context()), "cart"); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("next request: %v, %v; want the migrated cart, saved", got, err)
			}
		})
		if n := calls.Load(); n != 1 {
			t.Errorf("hook ran %d times, want once (the migrated value is saved back)", n)
		}
	})
	t.Run("Drop", func(t *testing.T) {
		id := old()
		serve(t, c.nodes[0].m, id, func(_ http.ResponseWriter, r *http.Request) {
			if v, ok, err := kiln.Get[int](kiln.FromContext(r.Context()), "junk"); ok || err != nil || v != 0 {
				t.Errorf("Get = %v, %v, %v; want absent", v, ok, err)
			}
		})
		serve(t, c.nodes[1].m, id, func(_ http.ResponseWriter, r *http.Request) {
			s := kiln.FromContext(r.Context())
			if s.Has("junk") || !s.Has("n") {
				t.Errorf("keys %v: want junk deleted, n kept", s.Keys())
			}
		})
	})
	t.Run("KeepError", func(t *testing.T) {
		id := old()
		serve(t, c.nodes[0].m, id, func(_ http.ResponseWriter, r *http.Request) {
			s := kiln.FromContext(r.Context())
			if _, _, err := kiln.Get[int](s, "cart"); !errors.Is(err, kiln.ErrDecode) {
				t.Errorf("Get = %v, want ErrDecode", err)
			}
			if n, _, err := kiln.Get[int](s, "n"); n != 1 || err != nil {
				t.Errorf("n = %d, %v; want 1", n, err)
			}
			if v, ok, err := s.Get("cart"); !ok || err != nil || v == nil {
				t.Errorf("s.Get(cart) = %v, %v, %v; want the generic form", v, ok, err)
			}
		})
	})
	t.Run("AfterResponseStarted", func(t *testing.T) { // returned, not saved: the hook runs again
		id, want := old(), cartV2{Items: map[string]int{"apple": 2, "pear": 1}}
		calls.Store(0)
		for range 2 {
			serve(t, c.nodes[0].m, id, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("started"))
				if got, _, err := kiln.Get[cartV2](kiln.FromContext(r.Context()), "cart"); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("Get after the start = %v, %v; want the migrated cart", got, err)
				}
			})
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("hook ran %d times, want twice (not saved after the start)", n)
		}
	})
}

// TestDecodeHook_Errors: a hook's error is Get's; a value of another type
// than asked for is ErrDecode; without a hook Get fails with ErrDecode.
func TestDecodeHook_Errors(t *testing.T) {
	errMine := errors.New("mine")
	for name, tc := range map[string]struct {
		hook func(context.Context, kiln.DecodeFailure) (any, error)
		want error
	}{
		"HookError": {func(context.Context, kiln.DecodeFailure) (any, error) { return nil, errMine }, errMine},
		"WrongType": {func(context.Context, kiln.DecodeFailure) (any, error) { return "not an int", nil }, kiln.ErrDecode},
		"NoHook":    {nil, kiln.ErrDecode},
	} {
		t.Run(name, func(t *testing.T) {
			c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.OnDecodeError = tc.hook })
			m := c.nodes[0].m
			id := sessionCookie(serve(t, m, "", func(_ http.ResponseWriter, r *http.Request) { kiln.FromContext(r.Context()).Put("a", "text") }))
			serve(t, m, id, func(_ http.ResponseWriter, r *http.Request) {
				_, _, err := kiln.Get[int](kiln.FromContext(r.Context()), "a")
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), `"a"`) {
					t.Errorf("Get = %v, want %v naming the attribute", err, tc.want)
				}
			})
		})
	}
}
