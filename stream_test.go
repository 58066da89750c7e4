package kiln_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
)

// streamBound bounds every wait of these tests; LeaseWait is shorter, so a
// request stuck behind a stream fails with 503 before it.
const streamBound = 5 * time.Second

// TestStream_SSE (issue 9, fault 6): a handler streaming server-sent events
// holds its request open; the session is saved and its lease slot released
// when the stream starts, so other requests of the same user, on the same
// node and on another one, are served while it streams.
func TestStream_SSE(t *testing.T) {
	shortWait := func(cfg *kiln.Config) { cfg.LeaseWait = 2 * time.Second }
	t.Run("MemEngine", func(t *testing.T) {
		c := mustCluster(t, 2, shortWait)
		streamWhileOthersRun(t, c.nodes[0], c.nodes[1])
	})
	t.Run("NATS", func(t *testing.T) {
		c := mustNATSCluster(t, 2, shortWait)
		streamWhileOthersRun(t, c.nodes[0], c.nodes[1])
	})
}

// streamWhileOthersRun streams events from a under one user's session and
// checks that the user's requests on a and b are served meanwhile.
func streamWhileOthersRun(t *testing.T, a, b *testNode) {
	u := newUser(t)
	u.must(a, "POST", "/put", kv("k", "x", "v", "1"))

	next, done := make(chan struct{}), make(chan struct{})
	sse := httptestServer(t, a.m, func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		s := kiln.FromContext(r.Context())
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 2 {
			v, _, err := s.Get("x")
			if err != nil {
				return
			}
			fmt.Fprintf(w, "data: %d %v\n\n", i, v)
			if rc.Flush() != nil {
				return
			}
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	})
	resp, err := u.client.Get(sse)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	if line, err := events.ReadString('\n'); err != nil || line != "data: 0 1\n" {
		t.Fatalf("first event %q, %v", line, err)
	}

	t.Run("SameNode", func(t *testing.T) {
		if got := within(t, func() (int, map[string]any) { return u.do(a, "GET", "/get?k=x", nil) }); got["value"] != "1" {
			t.Fatalf("read on the streaming node: %v", got)
		}
	})
	t.Run("OtherNode", func(t *testing.T) {
		within(t, func() (int, map[string]any) { return u.do(b, "POST", "/put", kv("k", "x", "v", "2")) })
		if got := within(t, func() (int, map[string]any) { return u.do(b, "GET", "/get?k=x", nil) }); got["value"] != "2" {
			t.Fatalf("read on the other node: %v", got)
		}
	})
	close(next)
	<-done
}

// within runs req and fails the test unless it answers 200 within streamBound.
func within(t *testing.T, req func() (int, map[string]any)) map[string]any {
	t.Helper()
	type result struct {
		status int
		body   map[string]any
	}
	ch := make(chan result, 1)
	go func() {
		status, body := req()
		ch <- result{status, body}
	}()
	select {
	case res := <-ch:
		if res.status != http.StatusOK {
			t.Fatalf("status %d (%v) while the stream is open, want 200", res.status, res.body)
		}
		return res.body
	case <-time.After(streamBound):
		t.Fatalf("no answer within %v while the stream is open", streamBound)
		return nil
	}
}

// TestStream_Hijack (issue 9, fault 7): Hijack through
// http.ResponseController saves the session first; if the save fails it
// returns the error and writes nothing, and the client gets the error's
// status, not the handler's upgrade.
func TestStream_Hijack(t *testing.T) {
	c := mustCluster(t, 2, func(cfg *kiln.Config) { cfg.LeaseWait = 2 * time.Second })
	a, b := c.nodes[0], c.nodes[1]
	u := newUser(t)
	u.must(a, "POST", "/put", kv("k", "x", "v", "1"))
	hijacked := make(chan error, 1)
	srv := httptestServer(t, a.m, func(w http.ResponseWriter, r *http.Request) {
		kiln.FromContext(r.Context()).Put("x", r.FormValue("v"))
		conn, brw, err := http.NewResponseController(w).Hijack()
		hijacked <- err
		if err != nil {
			http.Error(w, "upgrade failed", http.StatusInternalServerError) // what an upgrader does
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
		brw.Flush()
		brw.ReadString('\n') // until the client is done
	})
	addr := strings.TrimPrefix(srv, "http://")

	t.Run("SavedBeforeUpgrade", func(t *testing.T) {
		conn, status := upgrade(t, addr, u.cookie(a), "ws")
		defer conn.Close()
		if err := <-hijacked; err != nil || status != "HTTP/1.1 101 Switching Protocols" {
			t.Fatalf("hijack: %v, status line %q", err, status)
		}
		// The connection is still open: the session must be saved and free.
		if got := within(t, func() (int, map[string]any) { return u.do(b, "GET", "/get?k=x", nil) }); got["value"] != "ws" {
			t.Fatalf("x = %v while the hijacked connection is open, want the saved ws", got["value"])
		}
		fmt.Fprint(conn, "bye\n")
	})
	t.Run("FailedSave", func(t *testing.T) {
		a.eng.failMeta.Store(true)
		defer a.eng.failMeta.Store(false)
		conn, status := upgrade(t, addr, u.cookie(a), "lost")
		defer conn.Close()
		if err := <-hijacked; !errors.Is(err, kiln.ErrUnavailable) {
			t.Fatalf("Hijack with a failing save returned %v, want kiln.ErrUnavailable", err)
		}
		if status != "HTTP/1.1 503 Service Unavailable" {
			t.Fatalf("status line %q after a failed save, want the 503 of the failure", status)
		}
		a.eng.failMeta.Store(false)
		if got := u.must(b, "GET", "/get?k=x", nil)["value"]; got != "ws" {
			t.Fatalf("x = %v after the failed save, want ws", got)
		}
	})
}

// upgrade sends an upgrade request over raw TCP and returns the connection
// and the response's status line.
func upgrade(t *testing.T, addr, cookie, v string) (net.Conn, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(streamBound))
	fmt.Fprintf(conn, "GET /?v=%s HTTP/1.1\r\nHost: %s\r\nCookie: kiln_session=%s\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n", v, addr, cookie)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		conn.Close()
		t.Fatalf("reading the status line: %v", err)
	}
	return conn, strings.TrimRight(line, "\r\n")
}
