package channel_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// bound bounds every wait of the transport tests.
const bound = 10 * time.Second

// webNode is one web node: a Hub and a kiln Manager on its own NATS
// connection, serving the channel transports under /channels/ and, for the
// tests, POST /login (form user) and POST /touch (a session write).
type webNode struct {
	name string
	hub  *channel.Hub
	m    *kiln.Manager
	srv  *httptest.Server

	mu    sync.Mutex // guards conns
	conns []net.Conn // every accepted connection, for dropAll
}

func mustWebNode(t *testing.T, natsURL, name string, hubOpts func(*channel.Options), topts channel.TransportOptions) *webNode {
	t.Helper()
	n := &webNode{name: name}
	n.hub = mustHub(t, connect(t, natsURL), name, hubOpts)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: natsURL, Name: "test-" + name})
	if err != nil {
		t.Fatalf("natsengine.Open: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	cfg := kiln.DefaultConfig()
	cfg.Node = name
	cfg.LeaseWait = 2 * time.Second
	cfg.OnDestroyed = n.hub.OnDestroyed
	if n.m, err = kiln.New(eng, cfg); err != nil {
		t.Fatalf("kiln.New: %v", err)
	}
	t.Cleanup(func() { n.m.Close() })
	topts.Node = name
	mux := http.NewServeMux()
	mux.Handle("/channels/", http.StripPrefix("/channels", channel.Mount(n.hub, topts)))
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := kiln.FromContext(r.Context()).SetPrincipal(r.FormValue("user")); err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := kiln.FromContext(r.Context()).Invalidate(); err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
		}
	})
	mux.HandleFunc("GET /test.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><script src="/channels/client.js"></script>`))
	})
	mux.HandleFunc("POST /touch", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		if err := s.Put("touched", time.Now().UnixNano()); err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
		}
	})
	n.srv = httptest.NewUnstartedServer(n.m.Handler(mux))
	n.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if st == http.StateNew {
			n.conns = append(n.conns, c)
		}
	}
	n.srv.Start()
	t.Cleanup(n.srv.Close)
	return n
}

// dropAll closes every connection the node accepted, hijacked ones
// (WebSockets) included, as a network failure would.
func (n *webNode) dropAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		c.Close()
	}
	n.conns = nil
}

// user is a browser: a cookie jar shared by its requests on every node.
type user struct {
	t  *testing.T
	hc *http.Client
}

func newUser(t *testing.T) *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: t, hc: &http.Client{Jar: jar, Timeout: bound}}
}

// loggedIn is a user logged in as name on n.
func loggedIn(t *testing.T, n *webNode, name string) *user {
	u := newUser(t)
	u.post(n, "/login", url.Values{"user": {name}}, http.StatusOK)
	return u
}

func (u *user) post(n *webNode, path string, form url.Values, want int) []byte {
	u.t.Helper()
	resp, err := u.hc.PostForm(n.srv.URL+path, form)
	if err != nil {
		u.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	if resp.StatusCode != want {
		u.t.Fatalf("POST %s: %d %s, want %d", path, resp.StatusCode, b.String(), want)
	}
	return []byte(b.String())
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, event, data string }

// sseStream reads events from one SSE response.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

// openSSE opens the SSE stream of ch on n as u; lastID, if not empty, is
// sent as Last-Event-ID. It fails the test unless the answer is 200.
func (u *user) openSSE(n *webNode, ch, lastID string) *sseStream {
	u.t.Helper()
	s, status := u.trySSE(n, ch, lastID)
	if status != http.StatusOK {
		u.t.Fatalf("SSE %s: status %d", ch, status)
	}
	return s
}

func (u *user) trySSE(n *webNode, ch, lastID string) (*sseStream, int) {
	u.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", n.srv.URL+"/channels/sse?channel="+url.QueryEscape(ch), nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	hc := *u.hc
	hc.Timeout = 0 // a stream: bounded by the waits below
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		u.t.Fatalf("SSE %s: %v", ch, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	s := &sseStream{t: u.t, resp: resp, events: make(chan sseEvent, 1024), cancel: cancel}
	go s.read()
	u.t.Cleanup(s.close)
	return s, resp.StatusCode
}

func (s *sseStream) read() {
	defer close(s.events)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.data != "" {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event within bound.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatalf("SSE stream ended")
		}
		return ev
	case <-time.After(bound):
		s.t.Fatalf("no SSE event within %s", bound)
	}
	return sseEvent{}
}

// nextNamed skips events until one named name (a message: "").
func (s *sseStream) expect(name string) sseEvent {
	s.t.Helper()
	ev := s.next()
	if ev.event != name {
		s.t.Fatalf("SSE event %q %s, want %q", ev.event, ev.data, name)
	}
	return ev
}

// messages reads n message events and returns their data's "data" fields
// as strings, and the last event's id.
func (s *sseStream) messages(n int) ([]string, string) {
	s.t.Helper()
	var out []string
	var last string
	for range n {
		ev := s.expect("")
		var m struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
			s.t.Fatalf("SSE data %q: %v", ev.data, err)
		}
		var str string
		if json.Unmarshal(m.Data, &str) != nil {
			str = string(m.Data)
		}
		out = append(out, str)
		last = ev.id
	}
	return out, last
}
