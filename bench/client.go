package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client is one simulated user: its own cookies (its own session), the
// number of requests it sent, and the highest counter an increment of its
// acknowledged. Safe for concurrent use only where noted.
type client struct {
	id    int
	sent  atomic.Int64 // requests sent
	acked int          // highest acknowledged counter; owned by the goroutine driving the client

	mu      sync.Mutex // guards cookies
	cookies map[string]string
}

func newClient(id int) *client { return &client{id: id, cookies: map[string]string{}} }

func (c *client) cookie(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cookies[name]
}

func (c *client) header() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for k, v := range c.cookies {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + "=" + v)
	}
	return b.String()
}

func (c *client) remember(resp *http.Response) {
	cs := resp.Cookies()
	if len(cs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ck := range cs {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
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
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	c.remember(resp)
	var v struct{ Counter int }
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return v.Counter, nil
}
