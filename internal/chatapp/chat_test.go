package chatapp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestChat_AcrossNodes: a message posted on n1 reaches an SSE client on
// n2 with the poster's name and node; every response carries X-Kiln-Node.
func TestChat_AcrossNodes(t *testing.T) {
	ns := chatNodes(t, 2)
	alice, bob := loggedIn(t, ns[0], "alice"), loggedIn(t, ns[1], "bob")
	s := bob.listen(ns[1], "lobby", "")
	s.next("subscribed")
	if s.node != "n2" {
		t.Errorf("events answered by %q, want n2", s.node)
	}
	alice.say(ns[0], "lobby", "hello from n1")
	ev, _ := s.next("")
	if m := ev.msg.Data; m.User != "alice" || m.Text != "hello from n1" || m.Node != "n1" {
		t.Errorf("bob got %+v", m)
	}
}

// TestChat_ResumeExactlyMissed: a client that reconnects with
// Last-Event-ID gets exactly the messages it missed, in order.
func TestChat_ResumeExactlyMissed(t *testing.T) {
	ns := chatNodes(t, 2)
	alice, bob := loggedIn(t, ns[0], "alice"), loggedIn(t, ns[1], "bob")
	s := bob.listen(ns[1], "r1", "")
	s.next("subscribed")
	alice.say(ns[0], "r1", "one")
	_, last := s.texts(1)
	s.cancel()
	for _, m := range []string{"two", "three", "four"} {
		alice.say(ns[0], "r1", m)
	}
	r := bob.listen(ns[0], "r1", last)
	r.next("subscribed")
	alice.say(ns[1], "r1", "five")
	if got, _ := r.texts(4); !slices.Equal(got, []string{"two", "three", "four", "five"}) {
		t.Errorf("resumed after %s: %q, want exactly two..five", last, got)
	}
}

// TestChat_NodeKilled: the node a client streams from dies; the client
// reconnects to another with its last id and recovers every message
// posted meanwhile.
func TestChat_NodeKilled(t *testing.T) {
	ns := chatNodes(t, 3)
	alice, bob := loggedIn(t, ns[0], "alice"), loggedIn(t, ns[2], "bob")
	s := bob.listen(ns[2], "lobby", "")
	s.next("subscribed")
	alice.say(ns[0], "lobby", "before")
	_, last := s.texts(1)

	ns[2].kill()
	if _, ok := s.next(""); ok {
		t.Fatal("stream of the killed node still delivers")
	}
	for i := range 3 {
		alice.say(ns[0], "lobby", fmt.Sprintf("during %d", i))
	}
	r := bob.listen(ns[1], "lobby", last)
	r.next("subscribed")
	alice.say(ns[1], "lobby", "after")
	want := []string{"during 0", "during 1", "during 2", "after"}
	if got, _ := r.texts(4); !slices.Equal(got, want) {
		t.Errorf("after the kill bob got %q on n2, want %q", got, want)
	}
}

// TestChat_HistoryAndPresence: a newcomer gets the room's history, oldest
// first, and sees who is online on which node.
func TestChat_HistoryAndPresence(t *testing.T) {
	ns := chatNodes(t, 2)
	alice, bob := loggedIn(t, ns[0], "alice"), loggedIn(t, ns[1], "bob")
	s := alice.listen(ns[0], "kiln", "")
	s.next("subscribed")
	for _, m := range []string{"a", "b", "c"} {
		alice.say(ns[0], "kiln", m)
	}
	var h struct {
		Messages []struct{ User, Text, ID string }
	}
	bob.must(ns[1], "GET", "/api/rooms/kiln/messages", nil, &h)
	var texts []string
	for _, m := range h.Messages {
		texts = append(texts, m.Text)
	}
	if !slices.Equal(texts, []string{"a", "b", "c"}) || h.Messages[0].User != "alice" || h.Messages[0].ID == "" {
		t.Errorf("history %+v, want a, b, c by alice", h.Messages)
	}
	var p struct {
		Users []struct {
			User  string
			Nodes []string
		}
	}
	bob.must(ns[1], "GET", "/api/rooms/kiln/presence", nil, &p)
	if len(p.Users) != 1 || p.Users[0].User != "alice" || !slices.Equal(p.Users[0].Nodes, []string{"n1"}) {
		t.Errorf("presence %+v, want alice on n1", p.Users)
	}
}

// TestChat_BadInput: each refusal is a clear JSON error with its status,
// X-Kiln-Node included, and nothing is published.
func TestChat_BadInput(t *testing.T) {
	ns := chatNodes(t, 1)
	n := ns[0]
	anon := newPerson(t)
	alice := loggedIn(t, n, "alice")
	long := make([]byte, 2001)
	for i := range long {
		long[i] = 'x'
	}
	for _, tc := range []struct {
		who          *person
		method, path string
		form         url.Values
		want         int
	}{
		{anon, "POST", "/api/rooms/lobby/messages", url.Values{"text": {"hi"}}, http.StatusUnauthorized},
		{anon, "GET", "/api/rooms/lobby/events", nil, http.StatusUnauthorized},
		{anon, "POST", "/api/login", url.Values{"user": {""}}, http.StatusBadRequest},
		{anon, "POST", "/api/login", url.Values{"user": {"a\x00b"}}, http.StatusBadRequest},
		{alice, "POST", "/api/rooms/lobby/messages", url.Values{"text": {"  "}}, http.StatusBadRequest},
		{alice, "POST", "/api/rooms/lobby/messages", url.Values{"text": {string(long)}}, http.StatusBadRequest},
		{alice, "POST", "/api/rooms/Bad_Room/messages", url.Values{"text": {"hi"}}, http.StatusBadRequest},
		{alice, "GET", "/api/login", nil, http.StatusMethodNotAllowed},
	} {
		status, node, body := tc.who.do(n, tc.method, tc.path, tc.form)
		var e struct{ Error string }
		if status != tc.want || node != "n1" || (status != http.StatusMethodNotAllowed && (json.Unmarshal(body, &e) != nil || e.Error == "")) {
			t.Errorf("%s %s %v: %d from %q %s, want %d with a JSON error", tc.method, tc.path, tc.form, status, node, body, tc.want)
		}
	}
	var h struct{ Messages []any }
	alice.must(n, "GET", "/api/rooms/lobby/messages", nil, &h)
	if len(h.Messages) != 0 {
		t.Errorf("refused posts left %d messages", len(h.Messages))
	}
}

// TestChat_ClientsCannotPublish: a room's channel takes no client
// publishes (they would skip the checks and name any user): only the
// API's. Refused over HTTP publish.
func TestChat_ClientsCannotPublish(t *testing.T) {
	ns := chatNodes(t, 1)
	alice := loggedIn(t, ns[0], "alice")
	resp, err := alice.hc.Post(ns[0].srv.URL+"/channels/publish?channel=/chat/lobby", "application/json", strings.NewReader(`{"user":"bob","text":"forged"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("client publish to a room: %d, want 403", resp.StatusCode)
	}
}
