package chatapp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/chatapp"
)

// bound bounds every wait of these tests.
const bound = 10 * time.Second

// chatNode is one node of the chat: Hub, Manager and HTTP server, each on
// its own NATS connection, as a separate process would have.
type chatNode struct {
	name string
	hub  *channel.Hub
	srv  *httptest.Server
}

func mustChatNode(t *testing.T, natsURL, name string) *chatNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: natsURL, Name: "chat-" + name})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	hub, err := channel.NewHub(ctx, nc, channel.Options{Node: name, Authorize: chatapp.Authorizer{}})
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	t.Cleanup(func() { hub.Close() })
	cfg := kiln.DefaultConfig()
	cfg.Node = name
	cfg.ErrorHandler = chatapp.ErrorHandler
	cfg.OnDestroyed = hub.OnDestroyed
	m, err := kiln.New(eng, cfg)
	if err != nil {
		t.Fatalf("kiln.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	n := &chatNode{name: name, hub: hub, srv: httptest.NewServer(chatapp.Wrap(m, hub, name))}
	t.Cleanup(n.srv.Close)
	return n
}

// chatNodes starts n nodes on one embedded NATS server.
func chatNodes(t *testing.T, n int) []*chatNode {
	srv := natsengine.StartTestServer(t)
	var out []*chatNode
	for i := 1; i <= n; i++ {
		out = append(out, mustChatNode(t, srv.ClientURL(), "n"+string(rune('0'+i))))
	}
	return out
}

// kill stops n as a crashed process would: every connection drops.
func (n *chatNode) kill() {
	n.srv.CloseClientConnections()
	n.srv.Close()
}

type person struct {
	t  *testing.T
	hc *http.Client
}

func newPerson(t *testing.T) *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: t, hc: &http.Client{Jar: jar, Timeout: bound}}
}

func loggedIn(t *testing.T, n *chatNode, user string) *person {
	p := newPerson(t)
	p.must(n, "POST", "/api/login", url.Values{"user": {user}}, nil)
	return p
}

// do sends a request and returns the status, the X-Kiln-Node header and
// the body.
func (p *person) do(n *chatNode, method, path string, form url.Values) (int, string, []byte) {
	p.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, n.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(chatapp.NodeHeader), b
}

// must sends a request, wants 200 from n, and decodes the JSON answer
// into v (if not nil).
func (p *person) must(n *chatNode, method, path string, form url.Values, v any) {
	p.t.Helper()
	status, node, b := p.do(n, method, path, form)
	if status != http.StatusOK || node != n.name {
		p.t.Fatalf("%s %s: %d from %q: %s; want 200 from %s", method, path, status, node, b, n.name)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			p.t.Fatalf("%s %s: %s: %v", method, path, b, err)
		}
	}
}

func (p *person) say(n *chatNode, room, text string) {
	p.t.Helper()
	p.must(n, "POST", "/api/rooms/"+room+"/messages", url.Values{"text": {text}}, nil)
}

// event is one SSE event of a room.
type event struct {
	id, name string
	msg      struct {
		Data struct{ User, Text, Node string }
	}
}

type stream struct {
	t      *testing.T
	node   string
	events chan event
	cancel context.CancelFunc
}

// listen opens the room's SSE stream on n, resuming after lastID if set.
func (p *person) listen(n *chatNode, room, lastID string) *stream {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", n.srv.URL+"/api/rooms/"+room+"/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	hc := *p.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		cancel()
		p.t.Fatalf("events of %s on %s: %v %v", room, n.name, err, resp)
	}
	s := &stream{t: p.t, node: resp.Header.Get(chatapp.NodeHeader), events: make(chan event, 256), cancel: cancel}
	go s.read(resp.Body)
	p.t.Cleanup(cancel)
	return s
}

func (s *stream) read(body io.ReadCloser) {
	defer close(s.events)
	defer body.Close()
	sc := bufio.NewScanner(body)
	var ev event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			s.events <- ev
			ev = event{}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			_ = json.Unmarshal([]byte(line[6:]), &ev.msg)
		}
	}
}

// next returns the next event named name ("" for a message), skipping
// blank ones (retry:, heartbeats); ok is false if the stream ended.
func (s *stream) next(name string) (event, bool) {
	s.t.Helper()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return ev, false
			}
			if ev.name == "" && ev.id == "" {
				continue
			}
			if ev.name != name {
				s.t.Fatalf("event %q %+v, want %q", ev.name, ev.msg, name)
			}
			return ev, true
		case <-time.After(bound):
			s.t.Fatalf("no %q event within %s", name, bound)
		}
	}
}

// texts reads n messages and returns their texts and the last event id.
func (s *stream) texts(n int) ([]string, string) {
	s.t.Helper()
	var out []string
	var last string
	for range n {
		ev, ok := s.next("")
		if !ok {
			s.t.Fatalf("stream ended after %d of %d messages", len(out), n)
		}
		out = append(out, ev.msg.Data.Text)
		last = ev.id
	}
	return out, last
}
