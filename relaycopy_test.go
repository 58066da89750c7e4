package kiln_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// copyApp is testApp plus handlers that show what the hop copies: the
// request headers the holder's handler sees, trailers, an informational
// response, an event stream that waits for release after its first event.
func copyApp(release <-chan struct{}) func(string) http.Handler {
	return func(node string) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/", testApp(node))
		mux.HandleFunc("GET /headers", func(w http.ResponseWriter, r *http.Request) {
			kiln.FromContext(r.Context()).Get("counter")
			seen := map[string]string{"node": node}
			for _, k := range []string{"X-Hop", "Proxy-Authorization", "Te", "Accept-Encoding", "X-End", "User-Agent", "Connection"} {
				seen[k] = strings.Join(r.Header.Values(k), ",")
			}
			json.NewEncoder(w).Encode(seen)
		})
		mux.HandleFunc("GET /trailers", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		})
		mux.HandleFunc("GET /hints", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			io.WriteString(w, node)
		})
		mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			http.NewResponseController(w).Flush()
			<-release
			io.WriteString(w, "data: last\n\n")
		})
		return mux
	}
}

// TestRelay_HopCopies: the hop passes the request and the response on as a
// proxy must (hop-by-hop headers dropped, TE: trailers kept, no header the
// client did not send, trailers, informational responses, event streams
// flushed as they come), and the holder serves every request.
func TestRelay_HopCopies(t *testing.T) {
	release := make(chan struct{})
	srv := natsengine.StartTestServer(t)
	a := relayNode(t, srv, "n1", copyApp(release))
	b := relayNode(t, srv, "n2", copyApp(release))
	u := sessionOn(t, b)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(t *testing.T, path string, set map[string]string, trace *httptrace.ClientTrace) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", a.srv.URL+path, nil)
		for k, v := range set {
			req.Header[k] = []string{v}
		}
		req.Header.Set("Cookie", "kiln_session="+u.cookie(b))
		if trace != nil {
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		return resp
	}

	t.Run("RequestHeaders", func(t *testing.T) {
		resp := get(t, "/headers", map[string]string{"Connection": "X-Hop", "X-Hop": "hop", "Proxy-Authorization": "Basic eA==",
			"Te": "trailers", "X-End": "end", "User-Agent": ""}, nil)
		var seen map[string]string
		json.NewDecoder(resp.Body).Decode(&seen)
		want := map[string]string{"node": "n2", "X-Hop": "", "Proxy-Authorization": "", "Te": "trailers",
			"Accept-Encoding": "", "X-End": "end", "User-Agent": "", "Connection": ""}
		for k, v := range want {
			if seen[k] != v {
				t.Errorf("the holder's handler saw %s %q, want %q", k, seen[k], v)
			}
		}
	})
	t.Run("Trailers", func(t *testing.T) {
		resp := get(t, "/trailers", nil, nil)
		if body, _ := io.ReadAll(resp.Body); string(body) != "body" {
			t.Fatalf("body %q", body)
		}
		if resp.Trailer.Get("X-Sum") != "42" || resp.Trailer.Get("X-Late") != "late" {
			t.Fatalf("trailers %v, want X-Sum 42 and X-Late late", resp.Trailer)
		}
	})
	t.Run("EarlyHints", func(t *testing.T) {
		var hints []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints {
				hints = append(hints, h.Get("Link"))
			}
			return nil
		}}
		resp := get(t, "/hints", nil, trace)
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "n2" || len(hints) != 1 || hints[0] != "</style.css>; rel=preload" || resp.Header.Get("Link") != "" {
			t.Fatalf("body %q, early hints %q, final Link %q; want n2, the holder's one hint, none", body, hints, resp.Header.Get("Link"))
		}
	})
	t.Run("EventStream", func(t *testing.T) {
		resp := get(t, "/events", nil, nil)
		r := bufio.NewReader(resp.Body)
		if line, err := r.ReadString('\n'); err != nil || line != "data: first\n" {
			t.Fatalf("first event %q, %v: want it before the handler ends", line, err)
		}
		close(release)
		if rest, _ := io.ReadAll(r); string(rest) != "\ndata: last\n\n" {
			t.Fatalf("rest %q", rest)
		}
	})
	if s := b.m.Stats(); s.RelayServed != 4 {
		t.Fatalf("the holder served %d relayed requests, want 4", s.RelayServed)
	}
}
