package kiln_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

func TestManager_Cluster(t *testing.T) {
	c := mustCluster(t, 3, nil)
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	u := newUser(t)

	t.Run("CreatedOnASeenOnBAndC", func(t *testing.T) {
		u.must(a, "POST", "/put", kv("k", "color", "v", "blue"))
		for _, n := range []*testNode{b, cc} {
			if got := u.must(n, "GET", "/get?k=color", nil)["value"]; got != "blue" {
				t.Fatalf("on %s: color = %v, want blue", n.name, got)
			}
		}
	})
	t.Run("ChangedOnBSeenOnA", func(t *testing.T) {
		u.must(b, "POST", "/put", kv("k", "color", "v", "green"))
		if got := u.must(a, "GET", "/get?k=color", nil)["value"]; got != "green" {
			t.Fatalf("on a: color = %v, want green", got)
		}
	})
	t.Run("InPlaceMutationSaved", func(t *testing.T) {
		u.must(a, "POST", "/cart", kv("item", "apple"))
		u.must(b, "POST", "/cart", kv("item", "apple"))
		u.must(cc, "POST", "/cart", kv("item", "fig"))
		cart := u.must(a, "GET", "/get?k=cart", nil)["value"].(map[string]any)
		if cart["apple"] != float64(2) || cart["fig"] != float64(1) {
			t.Fatalf("cart = %v, want apple:2 fig:1", cart)
		}
	})
	t.Run("CookieCarriesServingNode", func(t *testing.T) {
		u.must(b, "GET", "/info", nil)
		if id := u.cookie(b); !strings.HasSuffix(id, ".n2") {
			t.Fatalf("cookie after a request on n2 = %q, want suffix .n2", id)
		}
	})
}

func TestManager_LazyCreation(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n, u := c.nodes[0], newUser(t)
	if body := u.must(n, "GET", "/get?k=x", nil); body["ok"] != false {
		t.Fatalf("get on a new session = %v", body)
	}
	if got := n.eng.commits.Load(); got != 0 {
		t.Fatalf("a request that wrote nothing made %d commits, want 0", got)
	}
	if u.cookie(n) != "" {
		t.Fatalf("a request that wrote nothing set cookie %q", u.cookie(n))
	}
	u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
	if u.cookie(n) == "" {
		t.Fatal("no cookie after the first write")
	}
}

func TestManager_Writes(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n, u := c.nodes[0], newUser(t)
	for _, k := range []string{"a", "b", "c"} {
		u.must(n, "POST", "/put", kv("k", k, "v", k))
	}

	t.Run("ReadOnlyRequestWritesNothing", func(t *testing.T) {
		before := n.eng.commits.Load()
		u.must(n, "GET", "/get?k=a", nil)
		if got := n.eng.commits.Load() - before; got != 0 {
			t.Fatalf("read-only request made %d commits, want 0", got)
		}
	})
	t.Run("UnchangedPutWritesNothing", func(t *testing.T) {
		before := n.eng.commits.Load()
		u.must(n, "POST", "/put", kv("k", "a", "v", "a"))
		if got := n.eng.commits.Load() - before; got != 0 {
			t.Fatalf("re-putting the same value made %d commits, want 0", got)
		}
	})
	t.Run("SmallChangeIsOneWrite", func(t *testing.T) {
		n.eng.ops()
		u.must(n, "POST", "/put", kv("k", "b", "v", "B"))
		if ops := n.eng.ops(); len(ops) != 1 || !strings.HasSuffix(ops[0].Key, ".m") || ops[0].Delete {
			t.Fatalf("save of one changed small attribute wrote %v, want the meta record alone (inline, touch not due)", opKeys(ops))
		}
	})
	t.Run("OnlyChangedAttributeTravels", func(t *testing.T) {
		u.must(n, "POST", "/put", kv("k", "big", "v", strings.Repeat("1", 2000)))
		n.eng.ops()
		u.must(n, "POST", "/put", kv("k", "big", "v", strings.Repeat("2", 2000)))
		var writes, deletes []string
		for _, op := range n.eng.ops() {
			if op.Delete {
				deletes = append(deletes, op.Key)
			} else {
				writes = append(writes, op.Key)
			}
		}
		// meta and the new version of big; its old version is deleted
		if len(writes) != 2 || len(deletes) != 1 || !strings.Contains(deletes[0], ".a.Ymln.") {
			t.Fatalf("save of one changed large attribute wrote %q and deleted %q, want meta, one attribute record and the deletion of its old version", writes, deletes)
		}
	})
	t.Run("TouchAfterTouchInterval", func(t *testing.T) {
		c.clock.Advance(2 * time.Minute)
		before := n.eng.commits.Load()
		u.must(n, "GET", "/get?k=a", nil)
		if got := n.eng.commits.Load() - before; got != 1 {
			t.Fatalf("read after the touch interval made %d commits, want 1 (the touch)", got)
		}
		u.must(n, "GET", "/get?k=a", nil)
		if got := n.eng.commits.Load() - before; got != 1 {
			t.Fatalf("second read made another commit; want the touch to be throttled")
		}
	})
}

func TestManager_Invalidate(t *testing.T) {
	c := mustCluster(t, 3, nil)
	a, cc := c.nodes[0], c.nodes[2]
	u := newUser(t)
	u.must(a, "POST", "/put", kv("k", "x", "v", "1"))
	old := u.cookie(a)

	u.must(cc, "POST", "/invalidate", nil)
	if u.cookie(cc) != "" {
		t.Fatalf("cookie still set after invalidate: %q", u.cookie(cc))
	}
	for _, n := range c.nodes {
		u.setCookie(n, old)
		body := u.must(n, "GET", "/info", nil)
		if body["new"] != true || body["keys"] != nil {
			t.Fatalf("old ID on %s after invalidate: %v, want a new empty session", n.name, body)
		}
	}
	u.setCookie(a, old)
	u.must(a, "POST", "/put", kv("k", "x", "v", "2"))
	if id := u.cookie(a); strings.Split(id, ".")[0] == strings.Split(old, ".")[0] {
		t.Fatalf("a write after invalidation reused the old ID %q", id)
	}
}

// TestManager_LateWrite holds a request inside its handler while another
// node ends the session; the slow request's write must fail, not resurrect.
func TestManager_LateWrite(t *testing.T) {
	for _, end := range []string{"/invalidate", "/renew"} {
		t.Run(strings.TrimPrefix(end, "/"), func(t *testing.T) {
			// Without leases: with them the second request waits for the
			// slow one instead (TestLease_*).
			c := mustCluster(t, 2, func(cfg *kiln.Config) { cfg.NoLeases = true })
			a, b := c.nodes[0], c.nodes[1]
			u := newUser(t)
			u.must(a, "POST", "/put", kv("k", "x", "v", "1"))
			old := u.cookie(a)

			loaded, release := make(chan struct{}), make(chan struct{})
			slow := httptestServer(t, a.m, func(w http.ResponseWriter, r *http.Request) {
				s := kiln.FromContext(r.Context())
				close(loaded)
				<-release
				reply(w, s.Put("x", "late"), nil)
			})
			status := make(chan int, 1)
			go func() {
				req, _ := http.NewRequest("POST", slow+"/", nil)
				req.AddCookie(&http.Cookie{Name: "kiln_session", Value: old})
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					status <- 0
					return
				}
				resp.Body.Close()
				status <- resp.StatusCode
			}()
			<-loaded
			u.must(b, "POST", end, nil)
			close(release)
			if got := <-status; got != http.StatusConflict {
				t.Fatalf("late write after %s: status %d, want 409", end, got)
			}
			u.setCookie(a, old)
			if body := u.must(a, "GET", "/get?k=x", nil); body["ok"] != false {
				t.Fatalf("old ID after late write: %v, want no session data", body)
			}
		})
	}
}

func TestManager_RenewID(t *testing.T) {
	c := mustCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/put", kv("k", "x", "v", "1"))
	u.must(a, "POST", "/put", kv("k", "y", "v", "2"))
	old := u.cookie(a)

	reported := u.must(b, "POST", "/renew", nil)["id"]
	renewed := u.cookie(b)
	if renewed == "" || strings.Split(renewed, ".")[0] == strings.Split(old, ".")[0] {
		t.Fatalf("cookie after renew = %q, old %q: want a new ID", renewed, old)
	}
	if reported != renewed {
		t.Fatalf("ID() right after RenewID = %v, cookie %q: want the new ID at once", reported, renewed)
	}
	for _, k := range []string{"x", "y"} {
		if body := u.must(a, "GET", "/get?k="+k, nil); body["ok"] != true {
			t.Fatalf("attribute %s lost by renew: %v", k, body)
		}
	}
	u.setCookie(a, old)
	if body := u.must(a, "GET", "/info", nil); body["new"] != true {
		t.Fatalf("old ID still serves a session after renew: %v", body)
	}
}

func TestManager_Expiry(t *testing.T) {
	t.Run("Idle", func(t *testing.T) {
		c := mustCluster(t, 2, nil) // idle 10m, touch 1m
		u := newUser(t)
		u.must(c.nodes[0], "POST", "/put", kv("k", "x", "v", "1"))
		c.clock.Advance(10*time.Minute + time.Minute - time.Second)
		if body := u.must(c.nodes[1], "GET", "/info", nil); body["new"] != false {
			t.Fatalf("session expired before idle+touch interval: %v", body)
		}
		c.clock.Advance(11 * time.Minute)
		if body := u.must(c.nodes[1], "GET", "/info", nil); body["new"] != true {
			t.Fatalf("session served after its idle timeout: %v", body)
		}
	})
	t.Run("UseKeepsAlive", func(t *testing.T) {
		c := mustCluster(t, 2, nil)
		u := newUser(t)
		u.must(c.nodes[0], "POST", "/put", kv("k", "x", "v", "1"))
		for i := range 6 { // an hour of reads, 9m apart, alternating nodes
			c.clock.Advance(9 * time.Minute)
			if body := u.must(c.nodes[i%2], "GET", "/get?k=x", nil); body["ok"] != true {
				t.Fatalf("read %d: session lost while in use: %v", i, body)
			}
		}
	})
	t.Run("Lifetime", func(t *testing.T) {
		c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.Lifetime = time.Hour })
		u := newUser(t)
		u.must(c.nodes[0], "POST", "/put", kv("k", "x", "v", "1"))
		for range 7 {
			c.clock.Advance(9 * time.Minute)
			u.must(c.nodes[0], "POST", "/incr", nil)
		}
		if body := u.must(c.nodes[0], "GET", "/get?k=x", nil); body["ok"] != false {
			t.Fatalf("session served past its lifetime: %v", body)
		}
	})
}

func TestManager_BadCookies(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n := c.nodes[0]
	victim := newUser(t)
	victim.must(n, "POST", "/put", kv("k", "secret", "v", "s3cret"))
	id := victim.cookie(n)
	base := strings.Split(id, ".")[0]
	expired := newUser(t)
	expired.must(n, "POST", "/put", kv("k", "secret", "v", "old"))
	ended := newUser(t)
	ended.must(n, "POST", "/put", kv("k", "secret", "v", "old"))
	endedID := ended.cookie(n)
	ended.must(n, "POST", "/invalidate", nil)
	c.clock.Advance(5 * time.Minute)
	victim.must(n, "POST", "/incr", nil) // keep the victim alive
	c.clock.Advance(7 * time.Minute)
	expiredID := expired.cookie(n)

	cases := map[string]string{
		"Empty":       "",
		"Garbage":     "%%%not-an-id%%%",
		"Truncated":   base[:20],
		"Forged":      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.n1",
		"BadSuffix":   base + ".n1/../x",
		"Oversized":   base + "." + strings.Repeat("n", 5000),
		"Expired":     expiredID,
		"Invalidated": endedID,
		"StoreKey":    "s." + base, // what an engine dump shows is not a cookie
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			u := newUser(t)
			u.setCookie(n, value)
			n.eng.ops()
			status, body := u.do(n, "GET", "/get?k=secret", nil)
			if status != http.StatusOK || body["ok"] != false {
				t.Fatalf("cookie %.40q: status %d body %v, want 200 and no data", value, status, body)
			}
			if fp := kiln.Fingerprint(value); name == "Forged" {
				for _, op := range n.eng.ops() { // background expiry work may write other keys
					if strings.Contains(op.Key, "."+fp) {
						t.Fatalf("a forged cookie made the engine write %s", op.Key)
					}
				}
			}
		})
	}
	if body := victim.must(n, "GET", "/get?k=secret", nil); body["value"] != "s3cret" {
		t.Fatalf("victim's session damaged: %v", body)
	}
}

func TestManager_EngineDown(t *testing.T) {
	c := mustCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	for range 3 {
		u.must(a, "POST", "/incr", nil)
	}
	c.eng.SetUnavailable(true)
	for _, path := range []string{"/incr", "/get?k=counter"} {
		method := "POST"
		if strings.HasPrefix(path, "/get") {
			method = "GET"
		}
		if status, _ := u.do(b, method, path, nil); status != http.StatusServiceUnavailable {
			t.Fatalf("%s with the engine down: status %d, want 503", path, status)
		}
	}
	c.eng.SetUnavailable(false)
	if got := u.must(b, "GET", "/get?k=counter", nil)["value"]; got != float64(3) {
		t.Fatalf("counter after the outage = %v, want the 3 acknowledged increments", got)
	}
}

// TestManager_ConcurrentIncrements sends increments of one session's counter
// from many goroutines through three nodes: every 200 must be counted, a
// conflict must be an error, never a silent loss. Without leases conflicts
// happen (409); with them requests are serialised and none does.
func TestManager_ConcurrentIncrements(t *testing.T) {
	t.Run("NoLeases", func(t *testing.T) {
		c := mustCluster(t, 3, func(cfg *kiln.Config) { cfg.NoLeases = true })
		concurrentIncrements(t, c, true)
	})
	t.Run("Leases", func(t *testing.T) { concurrentIncrements(t, mustCluster(t, 3, nil), false) })
}

func concurrentIncrements(t *testing.T, c *cluster, conflictsAllowed bool) {
	u := newUser(t)
	u.must(c.nodes[0], "POST", "/incr", nil)
	var ok, conflicts atomic.Int64
	ok.Add(1)
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			for i := range 15 {
				switch status, _ := u.do(c.nodes[(g+i)%3], "POST", "/incr", nil); status {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusConflict:
					conflicts.Add(1)
				default:
					t.Errorf("increment: status %d", status)
				}
			}
		})
	}
	wg.Wait()
	got := u.must(c.nodes[1], "GET", "/get?k=counter", nil)["value"]
	if got != float64(ok.Load()) {
		t.Fatalf("counter = %v, successful increments = %d (conflicts %d): an acknowledged update was lost", got, ok.Load(), conflicts.Load())
	}
	if !conflictsAllowed && conflicts.Load() > 0 {
		t.Fatalf("%d conflicts with leases: requests on one session must be serialised", conflicts.Load())
	}
	t.Logf("%d successful increments, %d conflicts", ok.Load(), conflicts.Load())
}

// TestManager_Limits checks each limit's error, not just its status: the
// handler's Put error, or the save's (at the start of the response) as the
// ErrorHandler gets it.
func TestManager_Limits(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) {
		cfg.MaxAttributeSize, cfg.MaxSessionSize, cfg.MaxAttributes = 100, 250, 3
		cfg.ErrorHandler = replyKind
	})
	n, u := c.nodes[0], newUser(t)
	put := &testNode{name: "put", srv: httptest.NewServer(n.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		replyKind(w, r, kiln.FromContext(r.Context()).Put(r.FormValue("k"), r.FormValue("v")))
	})))}
	t.Cleanup(put.srv.Close)
	cases := []struct {
		name, k, v string
		want       error // nil: saved
	}{
		{"AttributeTooLarge", "a", strings.Repeat("x", 200), kiln.ErrTooLarge},
		{"Fits1", "a", strings.Repeat("x", 90), nil},
		{"Fits2", "b", strings.Repeat("x", 90), nil},
		{"SessionTooLarge", "c", strings.Repeat("x", 90), kiln.ErrTooLarge}, // found by the save
		{"Small", "c", "x", nil},
		{"TooMany", "d", "x", kiln.ErrTooLarge},
		{"EmptyName", "", "x", kiln.ErrBadName},
		{"LongName", strings.Repeat("k", kiln.MaxNameLen+1), "x", kiln.ErrBadName},
	}
	for _, tc := range cases {
		status, body := u.do(put, "POST", "/", kv("k", tc.k, "v", tc.v))
		if body["kind"] != errorKind(tc.want) || (tc.want == nil) != (status == http.StatusOK) {
			t.Fatalf("%s: status %d, %v, want %v", tc.name, status, body, tc.want)
		}
	}
	if keys := u.must(n, "GET", "/info", nil)["keys"]; fmt.Sprint(keys) != "[a b c]" {
		t.Fatalf("keys after the limit tests = %v, want [a b c]", keys)
	}
}

func httptestServer(t *testing.T, m *kiln.Manager, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler(h))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestManager_SaveAllOrNothing fails a save at its commit point, after the
// new attribute versions were written: the request gets 503 and neither
// change becomes visible. The failure is ambiguous (engine.ErrUnavailable)
// and stays so, so the written versions are kept (the meta record might
// point at them); they expire with the session's data.
func TestManager_SaveAllOrNothing(t *testing.T) {
	c := mustCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	one, twos := strings.Repeat("1", 2000), strings.Repeat("2", 2000) // too large to be inline
	u.must(a, "POST", "/put", kv("k", "x", "v", one))
	u.must(a, "POST", "/put", kv("k", "y", "v", one))
	two := httptestServer(t, a.m, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		reply(w, errors.Join(s.Put("x", twos), s.Put("y", twos)), nil)
	})
	a.eng.failMeta.Store(true)
	a.eng.ops()
	req, _ := http.NewRequest("POST", two, nil)
	req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(a)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a.eng.failMeta.Store(false)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("save failing at its commit point: status %d, want 503", resp.StatusCode)
	}
	for _, k := range []string{"x", "y"} {
		if got := u.must(b, "GET", "/get?k="+k, nil)["value"]; got != one {
			t.Fatalf("%s = %.8v… after a failed save, want the old value 1…", k, got)
		}
	}
	written, undone := map[string]bool{}, map[string]bool{}
	for _, op := range a.eng.ops() {
		if strings.Contains(op.Key, ".a.") {
			if op.Delete {
				undone[op.Key] = true
			} else {
				written[op.Key] = true
			}
		}
	}
	if len(written) != 2 || len(undone) != 0 {
		t.Fatalf("attribute versions written %v, removed after an unknown outcome %v: want two, none removed", written, undone)
	}
}

// TestManager_OrphanedVersions: a save fails at its commit point and its
// clean-up is lost too (a crash), leaving attribute versions no meta record
// points at; later saves of the same attributes must not trip over them.
func TestManager_OrphanedVersions(t *testing.T) {
	c := mustCluster(t, 1, nil)
	n := c.nodes[0]
	u := newUser(t)
	u.must(n, "POST", "/incr", nil)
	n.eng.failMeta.Store(true)
	n.eng.failDeletes.Store(true)
	if status, _ := u.do(n, "POST", "/incr", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("save failing at its commit point: status %d, want 503", status)
	}
	n.eng.failMeta.Store(false)
	n.eng.failDeletes.Store(false)
	for want := 2; want <= 4; want++ {
		if got := u.must(n, "POST", "/incr", nil)["counter"]; got != float64(want) {
			t.Fatalf("increment after the crash: counter %v, want %d", got, want)
		}
	}
}
