package channel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/kilnhq/kiln/channel"
)

// wsClient is one WebSocket connection of a user.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

// frame is a server frame, as the tests read it.
type frame struct {
	Type      string `json:"type"`
	Ref       string `json:"ref"`
	Channel   string `json:"channel"`
	Sub       string `json:"sub"`
	Recovered bool   `json:"recovered"`
	Reason    string `json:"reason"`
	Error     string `json:"error"`
	Message   *struct {
		Channel string          `json:"channel"`
		Offset  uint64          `json:"offset"`
		Epoch   string          `json:"epoch"`
		From    string          `json:"from"`
		Data    json.RawMessage `json:"data"`
	} `json:"message"`
	Publication *struct {
		Offset uint64 `json:"offset"`
		Epoch  string `json:"epoch"`
	} `json:"publication"`
}

func (u *user) dialWS(n *webNode, origin string) (*wsClient, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.srv.URL, "http")+"/channels/ws",
		&websocket.DialOptions{HTTPClient: u.hc, HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(1 << 20)
	u.t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: u.t, conn: conn}, resp, nil
}

func (u *user) mustWS(n *webNode) *wsClient {
	u.t.Helper()
	c, _, err := u.dialWS(n, "")
	if err != nil {
		u.t.Fatalf("dial ws: %v", err)
	}
	return c
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("ws write: %v", err)
	}
}

// read returns the next frame, or the error that ended the connection.
func (c *wsClient) read() (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("ws frame %s: %v", b, err)
	}
	return f, nil
}

func (c *wsClient) expect(typ string) frame {
	c.t.Helper()
	f, err := c.read()
	if err != nil {
		c.t.Fatalf("ws: want %q frame: %v", typ, err)
	}
	if f.Type != typ {
		c.t.Fatalf("ws frame %+v, want type %q", f, typ)
	}
	return f
}

func (c *wsClient) subscribe(ch, since string) frame {
	c.t.Helper()
	c.send(map[string]string{"type": "subscribe", "channel": ch, "since": since})
	return c.expect("subscribed")
}

// messages reads n message frames: their data as strings, and the last
// position.
func (c *wsClient) messages(n int) ([]string, string) {
	c.t.Helper()
	var out []string
	var last string
	for range n {
		f := c.expect("message")
		var s string
		if json.Unmarshal(f.Message.Data, &s) != nil {
			s = string(f.Message.Data)
		}
		out = append(out, s)
		last = fmt.Sprintf("%s:%d", f.Message.Epoch, f.Message.Offset)
	}
	return out, last
}

// closeStatus waits for the server to close c and returns its code and
// reason, skipping the frames before.
func (c *wsClient) closeStatus() (websocket.StatusCode, string) {
	c.t.Helper()
	for {
		_, err := c.read()
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("ws ended without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	}
}

// TestWS_PublishSubscribeAcrossNodes: bob on n2 receives what alice
// publishes over her connection to n1, with her principal as From; the
// publish is acknowledged with its ref; a retry with the same id is
// delivered once; a resubscription with since gets exactly what it missed.
func TestWS_PublishSubscribeAcrossNodes(t *testing.T) {
	n1, n2 := twoNodes(t, nil, channel.TransportOptions{})
	alice := loggedIn(t, n1, "alice").mustWS(n1)
	bob := loggedIn(t, n2, "bob").mustWS(n2)
	bob.subscribe("/chat/*", "")

	alice.send(map[string]any{"type": "publish", "ref": "7", "channel": "/chat/a", "id": "k1", "data": map[string]string{"text": "hi"}})
	if f := alice.expect("published"); f.Ref != "7" || f.Publication == nil || f.Publication.Offset == 0 {
		t.Fatalf("publish ack %+v", f)
	}
	alice.send(map[string]any{"type": "publish", "ref": "8", "channel": "/chat/a", "id": "k1", "data": map[string]string{"text": "hi"}})
	alice.expect("published")
	alice.send(map[string]any{"type": "publish", "ref": "9", "channel": "/chat/b", "data": "second"})
	alice.expect("published")

	f := bob.expect("message")
	if f.Sub != "/chat/*" || f.Message.Channel != "/chat/a" || f.Message.From != "alice" || string(f.Message.Data) != `{"text":"hi"}` {
		t.Errorf("bob got %+v %s", f, f.Message.Data)
	}
	got, last := bob.messages(1)
	if got[0] != "second" {
		t.Errorf("after the retried publish bob got %q, want \"second\" (the retry delivered once)", got)
	}

	other := loggedIn(t, n2, "bob").mustWS(n2) // bob's tab reconnects
	mustPublish(t, n1.hub, "/chat/a", "missed1")
	mustPublish(t, n1.hub, "/chat/b", "missed2")
	if f := other.subscribe("/chat/*", last); !f.Recovered {
		t.Errorf("resubscribe after %s: %+v, want recovered", last, f)
	}
	mustPublish(t, n2.hub, "/chat/a", "live")
	if got, _ := other.messages(3); !slices.Equal(got, []string{"missed1", "missed2", "live"}) {
		t.Errorf("resumed after %s: %q, want exactly missed1, missed2, live", last, got)
	}
}

// TestWS_Refusals: what the Hub refuses comes back as error frames on a
// connection that goes on: a forbidden publish and subscribe, a bad
// frame, a subscription over the Hub's per-connection limit.
func TestWS_Refusals(t *testing.T) {
	n1, _ := twoNodes(t, func(o *channel.Options) { o.Limits.MaxSubscriptions = 1 }, channel.TransportOptions{})
	c := loggedIn(t, n1, "alice").mustWS(n1)
	c.send(map[string]any{"type": "publish", "ref": "1", "channel": "/secret/x", "data": 1})
	if f := c.expect("error"); f.Ref != "1" || f.Error != "forbidden" {
		t.Errorf("forbidden publish: %+v", f)
	}
	c.send(map[string]any{"type": "subscribe", "channel": "/secret/x"})
	if f := c.expect("error"); f.Channel != "/secret/x" || f.Error != "forbidden" {
		t.Errorf("forbidden subscribe: %+v", f)
	}
	c.send("not an object")
	c.expect("error")
	c.subscribe("/chat/one", "")
	c.send(map[string]any{"type": "subscribe", "channel": "/chat/two"})
	if f := c.expect("error"); f.Error != "limit reached" {
		t.Errorf("second subscription with MaxSubscriptions 1: %+v", f)
	}
	mustPublish(t, n1.hub, "/chat/one", "still served")
	if got, _ := c.messages(1); got[0] != "still served" {
		t.Errorf("got %q", got)
	}
}

// TestWS_Origin: a browser upgrade from another origin is refused (403)
// unless the origin is listed; the same origin is accepted.
func TestWS_Origin(t *testing.T) {
	n1, n2 := twoNodes(t, nil, channel.TransportOptions{Origins: []string{"trusted.example"}})
	u := loggedIn(t, n1, "alice")
	if _, resp, err := u.dialWS(n1, "http://evil.example"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: err %v, resp %v; want 403", err, resp)
	}
	if _, _, err := u.dialWS(n1, "http://trusted.example"); err != nil {
		t.Errorf("listed origin refused: %v", err)
	}
	if _, _, err := u.dialWS(n2, n2.srv.URL); err != nil {
		t.Errorf("same origin refused: %v", err)
	}
}

// TestWS_FrameLimits: a frame over MaxMessageBytes closes the connection
// with 1009; frames over the rate are answered with an error and not
// acted on.
func TestWS_FrameLimits(t *testing.T) {
	n1, _ := twoNodes(t, nil, channel.TransportOptions{MaxMessageBytes: 1024, Rate: 1, Burst: 2})
	u := loggedIn(t, n1, "alice")
	c := u.mustWS(n1)
	c.subscribe("/chat/a", "")
	c.send(map[string]any{"type": "subscribe", "channel": "/chat/b"})
	c.expect("subscribed")
	c.send(map[string]any{"type": "subscribe", "channel": "/chat/c"})
	if f := c.expect("error"); !strings.HasPrefix(f.Error, "rate limit") {
		t.Errorf("third frame at once with burst 2: %+v, want a rate limit error", f)
	}

	big := u.mustWS(n1)
	big.send(map[string]any{"type": "publish", "channel": "/chat/a", "data": strings.Repeat("x", 2048)})
	if code, _ := big.closeStatus(); code != websocket.StatusMessageTooBig {
		t.Errorf("2 KiB frame with MaxMessageBytes 1024: close %d, want %d", code, websocket.StatusMessageTooBig)
	}
}

// TestWS_LoggedOut: logging out on another node closes the connection
// with 1008 "logged out" (the JavaScript client does not reconnect then).
func TestWS_LoggedOut(t *testing.T) {
	n1, n2 := twoNodes(t, nil, channel.TransportOptions{})
	u := loggedIn(t, n1, "alice")
	c := u.mustWS(n1)
	c.subscribe("/chat/a", "")
	u.post(n2, "/logout", nil, http.StatusOK)
	if code, reason := c.closeStatus(); code != websocket.StatusPolicyViolation || reason != "logged out" {
		t.Errorf("close %d %q, want %d \"logged out\"", code, reason, websocket.StatusPolicyViolation)
	}
}

// TestWS_SlowConsumer: a client that stops reading is closed with 1013
// "slow consumer"; the publisher never waits for it and a reading client
// on the same Hub gets everything.
func TestWS_SlowConsumer(t *testing.T) {
	// The queue (SendBuffer) drops it. A write timeout shorter than the
	// time this test takes to notice the drop and start reading would
	// abort the frame in flight, and with it the close frame (2 of 6 runs
	// on a loaded machine with 1 s).
	n1, _ := twoNodes(t, nil, channel.TransportOptions{SendBuffer: 8, WriteTimeout: time.Minute})
	slow := loggedIn(t, n1, "slow").mustWS(n1)
	slow.subscribe("/chat/big", "")
	big := strings.Repeat("x", 48<<10)
	// Publish until the Hub dropped the reader (its presence entry goes),
	// then read: the close frame waits behind the socket's buffered data,
	// and the server keeps trying to send it only for a few seconds, so
	// reading only after a fixed, long burst of publishes loses it on a
	// loaded machine. 300 × 48 KB = 14 MB is past the sockets' buffers.
	seen := false // present once, so an absence means it left
	dropped := func() bool {
		ms, err := n1.hub.Presence(context.Background(), "/chat/big")
		here := err == nil && slices.ContainsFunc(ms, func(m channel.Member) bool { return m.Principal == "slow" })
		seen = seen || here
		return seen && err == nil && !here
	}
	for i := 0; !dropped(); i++ {
		if i == 300 {
			t.Fatal("a reader that reads nothing was not dropped after 300 × 48 KB")
		}
		for range 10 {
			mustPublish(t, n1.hub, "/chat/big", big)
		}
	}
	if code, reason := slow.closeStatus(); code != websocket.StatusTryAgainLater || reason != "slow consumer" {
		t.Errorf("close %d %q, want %d \"slow consumer\"", code, reason, websocket.StatusTryAgainLater)
	}
}
