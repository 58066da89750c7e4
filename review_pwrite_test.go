package kiln_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestReviewPwrite_ActiveOnNodeBehind: a session last touched by a node
// whose clock is ahead (by more than the idle timeout) is then used, with
// a save on every request, on a node whose clock is right. The stored
// access time lies in that node's future; a save must not take it for
// fresh and skip the touch record, or the engine's idle timer (set when
// the node ahead wrote it) runs out and the session ends while its user
// is active.
func TestReviewPwrite_ActiveOnNodeBehind(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	idle := func(c *kiln.Config) { c.IdleTimeout, c.TouchInterval = 2*time.Second, 500*time.Millisecond }
	a := reviewClockNode(t, srv, "a", aheadClock{5 * time.Second}, idle)
	b := reviewClockNode(t, srv, "b", clock.Real, idle)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	if got := clockIncr(t, client, a.srv.URL); got != "1" {
		t.Fatalf("first request: counter %s, want 1", got)
	}
	// Six seconds of requests 200 ms apart on b: three times the idle
	// timeout, each gap a tenth of it.
	end := time.Now().Add(6 * time.Second)
	for want := 2; time.Now().Before(end); want++ {
		if got := clockIncr(t, client, b.srv.URL); got != fmt.Sprint(want) {
			t.Fatalf("request %d on b: counter %s, want %d: the session ended while in use", want, got, want)
		}
		time.Sleep(200 * time.Millisecond) // the user's think time, not a wait for a condition
	}
}

// reviewClockNode is clockNode with the config changed by opt.
func reviewClockNode(t *testing.T, srv *natsengine.Server, name string, clk clock.Clock, opt func(*kiln.Config)) *clockTestNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: srv.ClientURL(), Name: name, Clock: clk, Logger: quietLogger})
	if err != nil {
		t.Fatalf("open engine for %s: %v", name, err)
	}
	t.Cleanup(func() { eng.Close() })
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Clock, cfg.Logger = name, clk, quietLogger
	cfg.LivenessTTL, cfg.LeaseRevokeTimeout, cfg.LeaseWait = 3*time.Second, 200*time.Millisecond, 15*time.Second
	opt(&cfg)
	pe := &pausableEngine{Engine: eng}
	m, err := kiln.New(pe, cfg)
	if err != nil {
		t.Fatalf("kiln.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	hs := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		n, _, err := kiln.Get[int](s, "n")
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		s.Put("n", n+1)
		fmt.Fprint(w, n+1)
	})))
	t.Cleanup(hs.Close)
	return &clockTestNode{name: name, m: m, eng: pe, srv: hs}
}

// TestReviewPwrite_RecordToInlineUnknown: a save moving an attribute from
// its record to inline whose commit stays ambiguous (the settling retry
// fails too) answers 503 and deletes nothing: the record the meta record
// may still name is kept, and what a read sees is whichever meta record
// the engine holds.
func TestReviewPwrite_RecordToInlineUnknown(t *testing.T) {
	for _, applied := range []bool{false, true} {
		t.Run(fmt.Sprintf("applied=%v", applied), func(t *testing.T) {
			c := mustCluster(t, 0, nil)
			n, eng := mustFaultNode(t, c, "n1", nil, fastLeases)
			u := newUser(t)
			big := strings.Repeat("1", 2000) // too large to be inline
			u.must(n, "POST", "/put", kv("k", "x", "v", big))
			eng.arm(faultRule{match: metaCommit, apply: applied}) // the write: ack lost
			eng.arm(faultRule{match: metaCommit})                 // the settling retry: unavailable
			if status, body := u.do(n, "POST", "/put", kv("k", "x", "v", "small")); status != http.StatusServiceUnavailable {
				t.Fatalf("save whose outcome stays unknown: status %d (%v), want 503", status, body)
			}
			want := big
			if applied {
				want = "small"
			}
			if got := u.must(n, "GET", "/get?k=x", nil)["value"]; got != want {
				t.Fatalf("x = %.8v…, want %.8v…", got, want)
			}
			if recs := attrRecords(t, c); len(recs) != 1 {
				t.Fatalf("attribute records %v, want the old one kept (nothing undone or cleaned up while unknown)", recs)
			}
		})
	}
}

// TestReviewPwrite_RacingInvalidateTouchDue is TestSave_RacingInvalidate
// with the late save's touch due (TouchInterval passed since it loaded):
// since saves skip a touch that is not due, that test's save writes no
// touch record at all, and no longer shows that the one a save does write
// is conditional. Here it writes one, after the invalidation set the
// tombstone's 1 s timer: that write must fail (compare-and-set), and the
// destroy event come within ~2 s, not an idle timeout later.
func TestReviewPwrite_RacingInvalidateTouchDue(t *testing.T) {
	d := newDestroyLog()
	c := mustCluster(t, 1, withDestroyLog(d, func(cfg *kiln.Config) { cfg.NoLeases = true }))
	loaded, proceed := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(c.nodes[0].m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		_, _, err := s.Get("x")
		close(loaded)
		<-proceed
		if err == nil {
			err = s.Put("x", "late")
		}
		reply(w, err, nil)
	})))
	t.Cleanup(slow.Close)
	u := newUser(t)
	n := c.nodes[0]
	u.must(n, "POST", "/put", kv("k", "x", "v", "1"))
	fp := kiln.Fingerprint(u.cookie(n))
	late := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", slow.URL, nil)
		req.AddCookie(&http.Cookie{Name: "kiln_session", Value: u.cookie(n)})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			late <- 0
			return
		}
		resp.Body.Close()
		late <- resp.StatusCode
	}()
	<-loaded
	c.clock.Advance(2 * time.Minute) // past TouchInterval (1m by default), well within IdleTimeout
	u.must(n, "POST", "/invalidate", nil)
	close(proceed)
	if status := <-late; status != http.StatusConflict {
		t.Fatalf("late save after the invalidation: status %d, want 409", status)
	}
	c.clock.Advance(2500 * time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ev, calls := d.event(fp); calls == 1 {
			if ev.Reason != kiln.ReasonInvalidated {
				t.Fatalf("destroy event with reason %q, want invalidated", ev.Reason)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no destroy event 2.5 s after the invalidation: the late save's touch re-armed the timer")
		}
		time.Sleep(5 * time.Millisecond) // polling the listener's log, bounded by deadline
	}
}
