package kiln_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine"
)

// opKeys returns the keys of ops, a delete marked "-".
func opKeys(ops []engine.Op) []string {
	var out []string
	for _, op := range ops {
		if op.Delete {
			out = append(out, "-"+op.Key)
		} else {
			out = append(out, op.Key)
		}
	}
	return out
}

// attrRecords returns the keys of every attribute record in c's engine.
func attrRecords(t *testing.T, c *cluster) []string {
	t.Helper()
	keys, err := c.eng.List(context.Background(), "s.*.a.>", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestSave_IncrementEngineOps: an increment of a 1 KB session (ten
// attributes of 100 bytes and a counter, the shape BenchmarkNATS_Request
// changes) on the node holding its lease is one engine call, the meta
// record's compare-and-set; the touch record is written once per
// TouchInterval, as for reads. Issue 10's target is ≤ 1.5.
func TestSave_IncrementEngineOps(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.IdleTimeout, cfg.TouchInterval = time.Minute, 2*time.Second })
	n, u := c.nodes[0], newUser(t)
	for i := range 10 {
		u.must(n, "POST", "/put", kv("k", "a"+string(rune('0'+i)), "v", strings.Repeat("x", 100)))
	}
	u.must(n, "POST", "/incr", nil)

	before := n.m.Stats().EngineOps
	const static = 50
	for range static {
		u.must(n, "POST", "/incr", nil)
	}
	if got := n.m.Stats().EngineOps - before; got != static {
		t.Fatalf("%d increments made %d engine calls, want %d (one each)", static, got, static)
	}

	// With time passing (100 ms a request, 10 s in all), the touch record
	// is due every 2 s: 5 touches. Liveness writes are not counted here.
	n.eng.commits.Store(0)
	const moving = 100
	for range moving {
		c.clock.Advance(100 * time.Millisecond)
		u.must(n, "POST", "/incr", nil)
	}
	got := n.eng.commits.Load()
	if float64(got)/moving > 1.1 {
		t.Fatalf("%d increments over 10 s made %d commits (%.2f each), want at most 1.1 each", moving, got, float64(got)/moving)
	}
	if got := u.must(n, "GET", "/get?k=counter", nil)["value"]; got != float64(1+static+moving) {
		t.Fatalf("counter = %v, want %d", got, 1+static+moving)
	}
}

// TestSave_InlineAndRecord: an attribute moving between inline (small) and
// a record of its own (large) across saves keeps its value, leaves no
// stale record behind, and reads the same from another node.
func TestSave_InlineAndRecord(t *testing.T) {
	c := mustCluster(t, 2, fastLeases)
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	big1, big2 := strings.Repeat("1", 2000), strings.Repeat("2", 3000)
	for _, step := range []struct {
		name    string
		value   string // "" deletes
		records int    // attribute records afterwards
	}{
		{"small", "s1", 0},
		{"large", big1, 1},
		{"larger", big2, 1},
		{"small again", "s2", 0},
		{"large again", big1, 1},
		{"deleted", "", 0},
	} {
		if step.value == "" {
			del := httptestServer(t, a.m, func(w http.ResponseWriter, r *http.Request) {
				reply(w, kiln.FromContext(r.Context()).Delete("x"), nil)
			})
			req, _ := http.NewRequest("POST", del, nil)
			req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(a)})
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: delete: %v %v", step.name, resp, err)
			}
			resp.Body.Close()
		} else {
			u.must(a, "POST", "/put", kv("k", "x", "v", step.value))
		}
		u.must(a, "POST", "/put", kv("k", "y", "v", "other")) // a second, inline, attribute stays
		eventually(t, func() bool { return len(attrRecords(t, c)) == step.records })
		for _, n := range []*testNode{b, a} { // b loads it (the lease moves), then a again
			body := u.must(n, "GET", "/get?k=x", nil)
			if want := step.value; (want == "" && body["ok"] != false) || (want != "" && body["value"] != want) {
				t.Fatalf("%s: x on %s = %.10v (ok %v), want %.10q", step.name, n.name, body["value"], body["ok"], want)
			}
			if got := u.must(n, "GET", "/get?k=y", nil)["value"]; got != "other" {
				t.Fatalf("%s: y on %s = %v, want other", step.name, n.name, got)
			}
		}
	}
}

// TestSave_OneWriteFaults: faults on the single write of an inline save
// (docs/storage.md, "Writes"). The outcome is what the engine holds: 200
// only if the write landed and nothing overwrote it unseen, 503 when that
// stays unknown; never a lost acknowledged write.
func TestSave_OneWriteFaults(t *testing.T) {
	t.Run("DelayedLandsLate", func(t *testing.T) {
		c := mustCluster(t, 0, nil)
		n, eng := mustFaultNode(t, c, "n1", nil, func(cfg *kiln.Config) {
			fastLeases(cfg)
			cfg.EngineTimeout = 50 * time.Millisecond
		})
		u := newUser(t)
		u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
		eng.arm(faultRule{match: metaCommit, late: true})
		if status, body := u.do(n, "POST", "/put", kv("k", "x", "v", "2")); status != http.StatusOK {
			t.Fatalf("save whose write landed after its timeout: status %d (%v), want 200 (settled)", status, body)
		}
		if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != "2" {
			t.Fatalf("x = %v, want 2", got)
		}
	})
	// The node is paused right after its write landed (its ack lost);
	// meanwhile another node reads, or saves on top of it. Leases off: the
	// other node's request does not wait for the paused one.
	for _, tc := range []struct {
		name   string
		other  func(u *user, b *testNode)
		status int
		want   string
	}{
		{"PausedOtherReads", func(u *user, b *testNode) { u.must(b, "GET", "/get?k=x", nil) }, 200, "2"},
		{"PausedOtherSaves", func(u *user, b *testNode) { u.must(b, "POST", "/put", kv("k", "y", "v", "b")) }, 503, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCluster(t, 0, nil)
			noLeases := func(cfg *kiln.Config) { cfg.NoLeases = true }
			a, eng := mustFaultNode(t, c, "n1", nil, noLeases)
			b := mustNode(t, c, "n2", noLeases)
			u := newUser(t)
			u.must(a, "POST", "/put", kv("k", "x", "v", "1"))
			u.setCookie(b, u.cookie(a))
			eng.arm(faultRule{match: metaCommit, apply: true, after: func() { tc.other(u, b) }})
			if status, body := u.do(a, "POST", "/put", kv("k", "x", "v", "2")); status != tc.status {
				t.Fatalf("save paused after its write: status %d (%v), want %d", status, body, tc.status)
			}
			for _, n := range []*testNode{a, b} {
				if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != tc.want {
					t.Fatalf("x on %s = %v, want %s: the write landed", n.name, got, tc.want)
				}
			}
		})
	}
}

// TestSave_MixedAllOrNothing: one save changing an inline attribute and a
// record-sized one fails at its commit point (refused): neither change is
// visible and the prepared record is undone.
func TestSave_MixedAllOrNothing(t *testing.T) {
	c := mustCluster(t, 0, nil)
	n, eng := mustFaultNode(t, c, "n1", nil, fastLeases)
	u := newUser(t)
	u.must(n, "POST", "/put", kv("k", "small", "v", "1"))
	both := httptestServer(t, n.m, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		reply(w, errors.Join(s.Put("small", "2"), s.Put("big", strings.Repeat("2", 2000))), nil)
	})
	eng.arm(faultRule{match: metaCommit, err: engine.ErrConflict})
	req, _ := http.NewRequest("POST", both, nil)
	req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(n)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("refused commit: status %d, want 409", resp.StatusCode)
	}
	if body := u.must(n, "GET", "/get?k=small", nil); body["value"] != "1" {
		t.Fatalf("small = %v after the refused save, want 1", body["value"])
	}
	if body := u.must(n, "GET", "/get?k=big", nil); body["ok"] != false {
		t.Fatalf("big = %.10v after the refused save, want none", body["value"])
	}
	if keys := attrRecords(t, c); len(keys) != 0 {
		t.Fatalf("attribute records after the refused save: %q, want the prepared one undone", keys)
	}
}

// TestSave_StorageFormat1: with Config.StorageFormat 1 (a rolling upgrade
// from a release before inline attributes) every attribute is written to a
// record of its own, and a session a format-2 node saved with inline
// attributes moves them to records at its next save, so that a format-1
// node can read it.
func TestSave_StorageFormat1(t *testing.T) {
	c := mustCluster(t, 1, nil)
	newNode := c.nodes[0]
	oldNode := mustNode(t, c, "n2", func(cfg *kiln.Config) { cfg.StorageFormat = 1 })
	u := newUser(t)
	u.must(newNode, "POST", "/put", kv("k", "x", "v", "1"))
	u.must(newNode, "POST", "/put", kv("k", "y", "v", "1"))
	if keys := attrRecords(t, c); len(keys) != 0 {
		t.Fatalf("format 2 wrote attribute records %q for small values", keys)
	}
	u.setCookie(oldNode, u.cookie(newNode))
	u.must(oldNode, "POST", "/put", kv("k", "x", "v", "2"))
	eventually(t, func() bool { return len(attrRecords(t, c)) == 2 })
	for _, n := range []*testNode{newNode, oldNode} {
		for k, want := range map[string]string{"x": "2", "y": "1"} {
			if got := u.must(n, "GET", "/get?k="+k, nil)["value"]; got != want {
				t.Fatalf("%s on %s = %v, want %s", k, n.name, got, want)
			}
		}
	}
	cfg := kiln.DefaultConfig()
	cfg.StorageFormat = 3
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "StorageFormat") {
		t.Fatalf("StorageFormat 3: Validate = %v, want an error naming StorageFormat", err)
	}
}

// TestLoad_InlineNoAttributeGets: a request that loads its session from the
// engine (here without leases) reads the meta and touch records and nothing
// else, however many inline attributes it reads.
func TestLoad_InlineNoAttributeGets(t *testing.T) {
	c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.NoLeases = true })
	n, u := c.nodes[0], newUser(t)
	for _, k := range []string{"a", "b", "c"} {
		u.must(n, "POST", "/put", kv("k", k, "v", k))
	}
	all := httptestServer(t, n.m, func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		var errs []error
		for _, k := range []string{"a", "b", "c"} {
			_, _, err := s.Get(k)
			errs = append(errs, err)
		}
		reply(w, errors.Join(errs...), nil)
	})
	before := n.m.Stats().EngineOps
	req, _ := http.NewRequest("GET", all, nil)
	req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(n)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("read of three attributes: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := n.m.Stats().EngineOps - before; got != 2 {
		t.Fatalf("a load reading three inline attributes made %d engine calls, want 2 (meta and touch)", got)
	}
}
