package main

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"
)

func response(setCookies ...string) *http.Response {
	return &http.Response{Header: http.Header{"Set-Cookie": setCookies}}
}

func TestClient_Cookies(t *testing.T) {
	c := newClient(1)
	if h := c.header(); h != "" {
		t.Fatalf("new client sends %q", h)
	}
	c.remember(response("kiln_session=abc.n1; Path=/; HttpOnly; SameSite=Lax"))
	c.remember(response("other=1; Path=/"))
	if h := c.header(); h != "kiln_session=abc.n1; other=1" {
		t.Fatalf("header %q", h)
	}
	if v := c.cookie("kiln_session"); v != "abc.n1" {
		t.Fatalf("kiln_session = %q", v)
	}
	c.remember(response("kiln_session=def.n2; Path=/"))
	if h := c.header(); h != "other=1; kiln_session=def.n2" {
		t.Fatalf("after a renewed ID: header %q", h)
	}
	c.remember(response("other=; Path=/; Max-Age=0"))
	if h := c.header(); h != "kiln_session=def.n2" {
		t.Fatalf("after a deleted cookie: header %q", h)
	}
	c.remember(&http.Response{Header: http.Header{}})
	if v := c.cookie("missing"); v != "" || c.header() != "kiln_session=def.n2" {
		t.Fatalf("a response without Set-Cookie changed the cookies: %q", c.header())
	}
}

// TestClient_CookieOwnsItsBytes: a client keeps a string of its own, not
// a slice of the response's Set-Cookie line (which holds Path, HttpOnly
// and the rest alive with it).
func TestClient_CookieOwnsItsBytes(t *testing.T) {
	line := "s=" + strings.Repeat("v", 40) + "; Path=/; HttpOnly; SameSite=Lax; Secure"
	c := newClient(1)
	c.remember(response(line))
	h := c.header()
	if h != "s="+strings.Repeat("v", 40) {
		t.Fatalf("header %q", h)
	}
	start := uintptr(unsafe.Pointer(unsafe.StringData(line)))
	if p := uintptr(unsafe.Pointer(unsafe.StringData(h))); p >= start && p < start+uintptr(len(line)) {
		t.Fatal("the cookie is a slice of the Set-Cookie line")
	}
}

// BenchmarkClient_Memory: the heap one load-generator client with a kiln
// session cookie takes, as a growth step allocates them.
func BenchmarkClient_Memory(b *testing.B) {
	const n = 100_000
	var perClient float64
	for b.Loop() {
		before := heapInUse()
		slab := make([]client, n)
		cs := make([]*client, n)
		for i := range cs {
			c := &slab[i]
			c.id = i
			c.remember(response(fmt.Sprintf("kiln_session=%043d.node-1; Path=/; HttpOnly; SameSite=Lax", i)))
			cs[i] = c
		}
		perClient = float64(heapInUse()-before) / n
		runtime.KeepAlive(cs)
	}
	b.ReportMetric(perClient, "bytes/client")
}

func TestCounter(t *testing.T) {
	for _, c := range []struct {
		body string
		want int
		err  bool
	}{
		{`{"counter":0}`, 0, false},
		{`{"counter":12345}`, 12345, false},
		{`{"counter": 7, "x": 1}`, 7, false}, // not the app's shape: encoding/json
		{`{"counter":-3}`, -3, false},
		{`oops`, 0, true},
	} {
		n, err := counter([]byte(c.body))
		if n != c.want || (err != nil) != c.err {
			t.Errorf("counter(%s) = %d, %v; want %d, error %v", c.body, n, err, c.want, c.err)
		}
	}
}

func TestReadBody(t *testing.T) {
	long := strings.Repeat("x", 1000)
	for _, in := range []string{"", `{"counter":1}`, long} {
		var buf [64]byte
		got, err := readBody(iotest.OneByteReader(strings.NewReader(in)), buf[:0])
		if err != nil || string(got) != in {
			t.Errorf("readBody(%d bytes) = %d bytes, %v", len(in), len(got), err)
		}
	}
}
