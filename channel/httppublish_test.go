package channel_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/channel"
)

func (u *user) publishHTTP(n *webNode, ch, body, key string) (int, string) {
	u.t.Helper()
	req, _ := http.NewRequest("POST", n.srv.URL+"/channels/publish?channel="+ch, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := u.hc.Do(req)
	if err != nil {
		u.t.Fatalf("publish: %v", err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestPublishHandler: a JSON body is published as the session's
// principal and answered with its position; a retry with the same
// Idempotency-Key is delivered once; bad bodies, oversized ones and
// forbidden channels are refused with 400, 413 and 403.
func TestPublishHandler(t *testing.T) {
	n1, n2 := twoNodes(t, nil, channel.TransportOptions{MaxMessageBytes: 1024})
	alice := loggedIn(t, n1, "alice")
	sub := mustSubscribe(t, n2.hub, client("bob"), "/chat/a", nil)
	for range 2 {
		status, body := alice.publishHTTP(n1, "/chat/a", `{"text":"once"}`, "key-1")
		var v struct{ Offset uint64 }
		if status != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil || v.Offset == 0 {
			t.Fatalf("publish: %d %s", status, body)
		}
	}
	alice.publishHTTP(n1, "/chat/a", `"after"`, "")
	got := receive(t, sub, 2)
	if string(got[0].Data) != `{"text":"once"}` || got[0].From != "alice" || string(got[1].Data) != `"after"` {
		t.Errorf("delivered %q (from %q), want the keyed publish once, then \"after\"", data(got), got[0].From)
	}
	for _, tc := range []struct {
		ch, body string
		want     int
	}{
		{"/chat/a", "not json", http.StatusBadRequest},
		{"/chat/a", `"` + strings.Repeat("x", 2000) + `"`, http.StatusRequestEntityTooLarge},
		{"/secret/a", `1`, http.StatusForbidden},
		{"/chat/*", `1`, http.StatusBadRequest},
	} {
		if status, body := alice.publishHTTP(n1, tc.ch, tc.body, ""); status != tc.want {
			t.Errorf("publish %s %.20q: %d %s, want %d", tc.ch, tc.body, status, body, tc.want)
		}
	}
}

// TestClientHandler serves the JavaScript client.
func TestClientHandler(t *testing.T) {
	n1, _ := twoNodes(t, nil, channel.TransportOptions{})
	resp, err := http.Get(n1.srv.URL + "/channels/client.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		!bytes.Equal(b.Bytes(), channel.ClientJS()) || !strings.Contains(b.String(), "kiln.channels") {
		t.Errorf("client.js: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), b.Len())
	}
}
