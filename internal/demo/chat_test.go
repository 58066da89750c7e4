package demo_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/demo"
)

// TestDemo_Chat: the chat runs beside the cart at /chat/ through the
// demo's balancer. The nodes relay a session's requests to the node that
// holds it, so a user's stream and posts are served there; a second user
// whose session another node holds posts too: every message reaches the
// stream, from both nodes, and the cart's login is the chat's (one
// session).
func TestDemo_Chat(t *testing.T) {
	d := mustStart(t, demo.Options{Nodes: 3})
	c := newClient(t, d.ProxyURL())
	c.post("/chat/api/login", url.Values{"user": {"ada"}})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", d.ChatURL()+"api/rooms/lobby/events", nil)
	hc := *c.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("events through the proxy: %v %v", err, resp)
	}
	defer resp.Body.Close()
	streamNode := resp.Header.Get("X-Kiln-Node")
	msgs := make(chan struct{ User, Text, Node string }, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var m struct {
				Data struct{ User, Text, Node string }
			}
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok && json.Unmarshal([]byte(line), &m) == nil && m.Data.Text != "" {
				msgs <- m.Data
			}
		}
		close(msgs)
	}()

	other := newClient(t, d.ProxyURL())
	for range 6 { // a session is created where the request lands: find one held elsewhere
		if other.post("/chat/api/login", url.Values{"user": {"bob"}}).node != streamNode {
			break
		}
		other = newClient(t, d.ProxyURL())
	}
	posted := map[string]bool{}
	users := []*client{c, c, other, other}
	for i, u := range users {
		a := u.post("/chat/api/rooms/lobby/messages", url.Values{"text": {"m" + string(rune('0'+i))}})
		posted[a.node] = true
	}
	fromOther := false
	for i := range 4 {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("stream ended after %d messages", i)
			}
			if want := map[bool]string{true: "ada", false: "bob"}[i < 2]; m.User != want || m.Text != "m"+string(rune('0'+i)) {
				t.Errorf("message %d: %+v", i, m)
			}
			fromOther = fromOther || m.Node != streamNode
		case <-time.After(15 * time.Second):
			t.Fatalf("message %d not delivered within 15s", i)
		}
	}
	if len(posted) < 2 || !fromOther {
		t.Errorf("posted on %v, stream on %s: want messages from other nodes", posted, streamNode)
	}
}
