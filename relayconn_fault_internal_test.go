package kiln

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHolder is a raw TCP server: serve runs on each accepted connection,
// so that a test can answer as a misbehaving holder would.
type fakeHolder struct {
	ln      net.Listener
	accepts atomic.Int32
	wg      sync.WaitGroup
}

func newFakeHolder(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) *fakeHolder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHolder{ln: ln}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.accepts.Add(1)
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); h.wg.Wait() })
	return h
}

func (h *fakeHolder) url() string { return "http://" + h.ln.Addr().String() }

// eachRequest answers every request read on the connection with answer.
func eachRequest(answer func(c net.Conn, req *http.Request) bool) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if !answer(c, req) {
				return
			}
		}
	}
}

func testHopConns(t *testing.T) *hopConns {
	hc := &hopConns{dial: (&net.Dialer{}).DialContext, next: &http.Transport{}, maxIdle: 4, idleFor: time.Hour, idle: map[string][]*hopConn{}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func (t *hopConns) idleCount(host string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.idle[host])
}

func hopGet(t *testing.T, hc *hopConns, method, url string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	res, err := hc.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	res.Body.Close()
	return res, string(b)
}

// TestHopConns_SwitchingProtocolsNotPooled: a connection on which the
// holder answered 101 speaks another protocol now; it is closed, never
// reused for the next request.
func TestHopConns_SwitchingProtocolsNotPooled(t *testing.T) {
	h := newFakeHolder(t, eachRequest(func(c net.Conn, req *http.Request) bool {
		if req.URL.Path == "/up" {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n")
			return true // keeps reading: as if the next bytes were the other protocol's
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	}))
	hc := testHopConns(t)
	res, _ := hopGet(t, hc, "GET", h.url()+"/up")
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", res.StatusCode)
	}
	if n := hc.idleCount(h.ln.Addr().String()); n != 0 {
		t.Fatalf("%d idle connections after a 101, want 0: the switched connection would be reused", n)
	}
}

// TestHopConns_DefaultPort: a holder's URL without a port is reached at
// port 80, as http.Transport reaches it; not a dial error (that would mark
// the holder down and serve every request locally).
func TestHopConns_DefaultPort(t *testing.T) {
	var addrs []string
	hc := testHopConns(t)
	hc.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		addrs = append(addrs, addr)
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("refused by the test")}
	}
	for _, u := range []string{"http://holder.internal/x", "http://10.0.0.5/x", "http://[fd00::5]/x", "http://holder.internal:8080/x"} {
		req, _ := http.NewRequest("GET", u, nil)
		if _, err := hc.RoundTrip(req); err == nil {
			t.Fatalf("GET %s: no error from a failing dial", u)
		}
	}
	want := "holder.internal:80 10.0.0.5:80 [fd00::5]:80 holder.internal:8080"
	if got := strings.Join(addrs, " "); got != want {
		t.Fatalf("dialled %s, want %s", got, want)
	}
}

// TestHopConns_HeaderBound: the holder's response header is read up to
// maxHeader bytes, not without end (http.Transport's
// MaxResponseHeaderBytes, 10 MB by default, bounded it before).
func TestHopConns_HeaderBound(t *testing.T) {
	h := newFakeHolder(t, eachRequest(func(c net.Conn, req *http.Request) bool {
		bw := bufio.NewWriter(c)
		io.WriteString(bw, "HTTP/1.1 200 OK\r\nX-Big: ")
		for range 256 {
			bw.WriteString(strings.Repeat("a", 4<<10)) // 1 MB
		}
		io.WriteString(bw, "\r\nContent-Length: 2\r\n\r\nok")
		bw.Flush()
		return false
	}))
	hc := testHopConns(t)
	hc.maxHeader = 64 << 10
	req, _ := http.NewRequest("GET", h.url()+"/", nil)
	res, err := hc.RoundTrip(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("a 1 MB response header was read whole (status %d), want an error past %d bytes", res.StatusCode, hc.maxHeader)
	}
}

// TestHopConns_StaysInSync: responses without a body (HEAD, 204, 304),
// chunked ones with trailers, and sized ones leave the connection at the
// next response: all go over one connection and each gets its own answer.
func TestHopConns_StaysInSync(t *testing.T) {
	n := 0
	h := newFakeHolder(t, eachRequest(func(c net.Conn, req *http.Request) bool {
		n++
		switch req.URL.Path {
		case "/head":
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-N: %d\r\n\r\n", n)
		case "/204":
			fmt.Fprintf(c, "HTTP/1.1 204 No Content\r\nX-N: %d\r\n\r\n", n)
		case "/304":
			fmt.Fprintf(c, "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nX-N: %d\r\n\r\n", n)
		case "/chunked":
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nX-N: %d\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\nX-Sum: 3\r\n\r\n", n)
		case "/hints":
			fmt.Fprintf(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-N: %d\r\n\r\nh", n)
		default:
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-N: %d\r\n\r\nabc", n)
		}
		return true
	}))
	hc := testHopConns(t)
	steps := []struct{ method, path, body string }{
		{"HEAD", "/head", ""}, {"GET", "/204", ""}, {"GET", "/x", "abc"}, {"GET", "/304", ""},
		{"GET", "/chunked", "abc"}, {"HEAD", "/head", ""}, {"GET", "/hints", "h"}, {"GET", "/x", "abc"},
	}
	for i, s := range steps {
		res, body := hopGet(t, hc, s.method, h.url()+s.path)
		if got := res.Header.Get("X-N"); got != fmt.Sprint(i+1) || body != s.body {
			t.Fatalf("%s %s: response %s with body %q, want %d and %q", s.method, s.path, got, body, i+1, s.body)
		}
		if s.path == "/chunked" && res.Trailer.Get("X-Sum") != "3" {
			t.Fatalf("trailers %v, want X-Sum: 3", res.Trailer)
		}
	}
	if a := h.accepts.Load(); a != 1 {
		t.Fatalf("%d connections for %d requests, want 1", a, len(steps))
	}
}

// TestHopConns_NotReusedAfter: a connection is not reused after a body
// left unread (the client went away mid-body), after Connection: close,
// after a body read to the holder's close, after bytes past the response,
// or after the request's context was cancelled mid-exchange (its
// deadline set in the past); the next request gets a fresh connection and
// its own answer.
func TestHopConns_NotReusedAfter(t *testing.T) {
	release := make(chan struct{})
	h := newFakeHolder(t, eachRequest(func(c net.Conn, req *http.Request) bool {
		switch req.URL.Path {
		case "/partial":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
			<-release
			io.WriteString(c, "56789")
		case "/close":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
		case "/eof":
			io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nto the end")
			return false
		case "/extra":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
		case "/hang":
			<-release
		case "/hangbody":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
			<-release
		default:
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
		}
		return true
	}))
	defer close(release)
	hc := testHopConns(t)
	host := h.ln.Addr().String()
	check := func(what string, idleOK bool) {
		t.Helper()
		if n := hc.idleCount(host); n != 0 && !idleOK {
			t.Fatalf("after %s: %d idle connections, want 0", what, n)
		}
		before := h.accepts.Load()
		if _, body := hopGet(t, hc, "GET", h.url()+"/"); body != "fresh" {
			t.Fatalf("after %s: body %q, want fresh", what, body)
		}
		if h.accepts.Load() == before {
			t.Fatalf("after %s: connection reused", what)
		}
		if n := hc.idleCount(host); n != 1 {
			t.Fatalf("after %s: %d idle connections after a clean request, want 1", what, n)
		}
		hc.CloseIdleConnections()
	}

	req, _ := http.NewRequest("GET", h.url()+"/partial", nil)
	res, err := hc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(res.Body, make([]byte, 5))
	res.Body.Close() // 5 bytes left unread
	check("a body left unread", false)

	hopGet(t, hc, "GET", h.url()+"/close")
	check("Connection: close", false)
	hopGet(t, hc, "GET", h.url()+"/eof")
	check("a body read to the holder's close", false)

	hopGet(t, hc, "GET", h.url()+"/extra")
	check("bytes past the response", true) // kept, but dropped at reuse: Buffered or the peek

	ctx, cancel := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", h.url()+"/hang", nil)
	errc := make(chan error, 1)
	go func() {
		_, err := hc.RoundTrip(req)
		errc <- err
	}()
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a cancelled exchange returned no error")
	}
	check("a context cancelled before the response", false)

	ctx, cancel = context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", h.url()+"/hangbody", nil)
	res, err = hc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Fatal("a body whose context was cancelled read to its end")
	}
	res.Body.Close()
	check("a context cancelled mid-body", false)
}

// TestHopConns_Concurrent: concurrent round trips to one holder each get
// their own response, on at most as many connections as were in flight.
func TestHopConns_Concurrent(t *testing.T) {
	h := newFakeHolder(t, eachRequest(func(c net.Conn, req *http.Request) bool {
		p := req.URL.Path
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(p), p)
		return true
	}))
	hc := testHopConns(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				p := fmt.Sprintf("/%d/%d", g, i)
				req, _ := http.NewRequest("GET", h.url()+p, nil)
				res, err := hc.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if string(b) != p {
					errs <- fmt.Errorf("GET %s: body %q", p, b)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if a := h.accepts.Load(); a > 8 {
		t.Fatalf("%d connections for 8 concurrent clients, want at most 8", a)
	}
}

// TestHopConns_ShutdownRacesRoundTrip: a round trip in flight when the
// Manager closes (shutdown) does not put its connection back in the pool
// afterwards, where it stayed open until the sweep 90 s later; nor does
// the sweep timer outlive the shutdown.
func TestHopConns_ShutdownRacesRoundTrip(t *testing.T) {
	h := newFakeHolder(t, eachRequest(func(c net.Conn, req *http.Request) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	}))
	hc := testHopConns(t)
	hopGet(t, hc, "GET", h.url()+"/") // one idle: the sweep is armed
	req, _ := http.NewRequest("GET", h.url()+"/", nil)
	res, err := hc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	hc.shutdown()
	io.ReadAll(res.Body)
	res.Body.Close()
	hc.mu.Lock()
	idle, sweep := len(hc.idle), hc.sweep
	hc.mu.Unlock()
	if idle != 0 || sweep != nil {
		t.Fatalf("after shutdown: idle connections for %d holders, sweep armed %v; want none", idle, sweep != nil)
	}
	if _, err := res.Body.(*hopConnBody).c.Write([]byte("x")); err == nil {
		t.Fatal("the connection of the round trip in flight is still open after shutdown")
	}
}
