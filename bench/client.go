package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client is one simulated user: its own cookies (its own session), the
// number of requests it sent, and the highest counter an increment of its
// acknowledged. Safe for concurrent use only where noted.
//
// A growth step holds a million of them, so a client keeps its cookies as
// the one string it sends (the Cookie header), not a map, and populate
// allocates a step's clients in one slice: BenchmarkClient_Memory measures
// ~120 B a client with a kiln cookie, one heap object (~510 B, four
// objects, with a map that also kept each Set-Cookie line alive).
type client struct {
	id    int
	sent  atomic.Int64 // requests sent
	acked int          // highest acknowledged counter; owned by the goroutine driving the client

	mu      sync.Mutex // guards cookies
	cookies string     // "name=value; name=value", as sent
}

func newClient(id int) *client { return &client{id: id} }

// cookie is the value of c's cookie name, "" if it has none.
func (c *client) cookie(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for rest := c.cookies; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "; ")
		if n, v, _ := strings.Cut(pair, "="); n == name {
			return v
		}
	}
	return ""
}

func (c *client) header() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cookies
}

// remember applies the response's Set-Cookie headers to c's cookies.
func (c *client) remember(resp *http.Response) {
	if len(resp.Header["Set-Cookie"]) == 0 {
		return
	}
	cs := resp.Cookies()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cookies = setCookies(c.cookies, cs)
}

// setCookies is header (a Cookie header) with cs set or, past their
// MaxAge, removed: a new string, so that it does not keep the response's
// Set-Cookie lines alive (their values are slices of them).
func setCookies(header string, cs []*http.Cookie) string {
	var b strings.Builder
	add := func(name, value string) {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(value)
	}
	set := func(name string) *http.Cookie {
		for _, ck := range cs {
			if ck.Name == name {
				return ck
			}
		}
		return nil
	}
	for rest := header; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "; ")
		if n, v, _ := strings.Cut(pair, "="); set(n) == nil {
			add(n, v)
		}
	}
	for i, ck := range cs {
		if ck.MaxAge >= 0 && !slices.ContainsFunc(cs[i+1:], func(o *http.Cookie) bool { return o.Name == ck.Name }) {
			add(ck.Name, ck.Value)
		}
	}
	if b.String() == header {
		return header
	}
	return b.String()
}

// httpClient is shared by all users: keep-alive, enough idle connections
// for every user on both instances. Cookies are handled per client.
func newHTTPClient(users int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * users
	t.MaxIdleConnsPerHost = 2 * users
	return &http.Client{Transport: t, Timeout: 20 * time.Second}
}

// call sends method path to base with c's cookies and returns the counter
// the app answered. A non-2xx status is an error.
func (c *client) call(ctx context.Context, hc *http.Client, base, method, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return 0, err
	}
	if h := c.header(); h != "" {
		req.Header.Set("Cookie", h)
	}
	c.sent.Add(1)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var buf [64]byte
	body, err := readBody(resp.Body, buf[:0])
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	c.remember(resp)
	n, err := counter(body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return n, nil
}

// readBody appends r's bytes to buf: a response of the app fits the
// 64 bytes call gives it (io.ReadAll starts with 512).
func readBody(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// counter is the counter of the app's answer, {"counter":N}, read without
// reflection (the load generator parses millions of them); any other
// shape goes through encoding/json.
func counter(body []byte) (int, error) {
	if digits, ok := bytes.CutPrefix(body, []byte(`{"counter":`)); ok {
		if digits, ok = bytes.CutSuffix(digits, []byte("}")); ok {
			if n, err := strconv.Atoi(string(digits)); err == nil {
				return n, nil
			}
		}
	}
	var v struct{ Counter int }
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, err
	}
	return v.Counter, nil
}
