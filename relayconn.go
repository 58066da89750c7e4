package kiln

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"time"
)

// hopConns is the hop's transport. A request without a body to an http://
// holder is written, and its response read, on the calling goroutine over
// a pooled keep-alive connection: no writer and reader goroutines to hand
// it to and back, as http.Transport has (their handoffs were a good part
// of a relayed request's cost), and never sent twice. Everything else (a
// body, sent with Expect: 100-continue; https) goes to next, an
// *http.Transport.
//
// Failures are those the hop judges (relayhop.go): a dial error before any
// connection (GotConn not called), anything after may have reached the
// holder. An idle connection the holder closed is found before reuse
// (connAlive), so it is dialled again rather than failing a request.
type hopConns struct {
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	next      *http.Transport
	maxIdle   int           // idle connections kept per holder
	idleFor   time.Duration // an idle connection older than this is closed, not reused
	maxHeader int64         // bytes the holder's response headers may take (1xx ones too); 0: 10 MB, as http.Transport

	mu     sync.Mutex // guards idle, sweep and closed
	idle   map[string][]*hopConn
	sweep  *time.Timer // closes connections idle for idleFor; nil: none idle
	closed bool        // shut down: connections are closed after use, not kept
}

// hopConn is a connection to a holder with its buffers.
type hopConn struct {
	net.Conn
	br       *bufio.Reader // reads through limit
	bw       *bufio.Writer
	limit    hopReadLimit
	lastUsed time.Time
}

// hopReadLimit reads from a connection at most left bytes (while
// response headers are read; else unlimited), as http.Transport bounds a
// response header with MaxResponseHeaderBytes.
type hopReadLimit struct {
	c    net.Conn
	left int64
	max  int64
}

func (l *hopReadLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("kiln: relay: the holder's response header is over %d bytes", l.max)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.c.Read(p)
	l.left -= int64(n)
	return n, err
}

// maxInformational bounds the 1xx responses one request may get.
const maxInformational = 8

var errTooManyInformational = errors.New("kiln: relay: too many informational responses from the holder")

func (t *hopConns) RoundTrip(req *http.Request) (*http.Response, error) {
	if !connAliveSupported || req.URL.Scheme != "http" || req.Body != nil || req.Header["Expect"] != nil {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	host := req.URL.Host
	if req.URL.Port() == "" {
		host = net.JoinHostPort(req.URL.Hostname(), "80") // as http.Transport: a holder at http://10.0.0.5
	}
	c, reused, err := t.get(ctx, host)
	if err != nil {
		return nil, err
	}
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: c.Conn, Reused: reused})
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) }) // unblocks the exchange
	res, err := c.exchange(req, trace)
	if err != nil {
		stop()
		c.Close()
		return nil, err
	}
	// A 101 leaves the connection to another protocol: never reused.
	keep := !res.Close && res.StatusCode != http.StatusSwitchingProtocols
	b := &hopConnBody{rc: res.Body, c: c, t: t, host: host, stop: stop, keep: keep}
	b.eof = res.Body == http.NoBody
	res.Body = b
	return res, nil
}

// exchange writes req and reads its final response, passing informational
// ones to the trace.
func (c *hopConn) exchange(req *http.Request, trace *httptrace.ClientTrace) (*http.Response, error) {
	if err := req.Write(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	c.limit.left = c.limit.max
	defer func() { c.limit.left = math.MaxInt64 }() // the body is the app's to bound
	for range maxInformational {
		res, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, err
		}
		if res.StatusCode < 100 || res.StatusCode > 199 || res.StatusCode == http.StatusSwitchingProtocols {
			return res, nil
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header)); err != nil {
				return nil, err
			}
		}
	}
	return nil, errTooManyInformational
}

// get returns an idle connection to host that is still open, or dials one.
func (t *hopConns) get(ctx context.Context, host string) (c *hopConn, reused bool, err error) {
	now := time.Now()
	for {
		t.mu.Lock()
		list := t.idle[host]
		if len(list) == 0 {
			t.mu.Unlock()
			break
		}
		c = list[len(list)-1]
		t.idle[host] = list[:len(list)-1]
		t.mu.Unlock()
		if now.Sub(c.lastUsed) < t.idleFor && c.br.Buffered() == 0 && connAlive(c.Conn) {
			return c, true, nil
		}
		c.Close()
	}
	conn, err := t.dial(ctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	c = &hopConn{Conn: conn, bw: bufio.NewWriterSize(conn, 4<<10), limit: hopReadLimit{c: conn, left: math.MaxInt64, max: t.maxHeader}}
	if c.limit.max <= 0 {
		c.limit.max = 10 << 20
	}
	c.br = bufio.NewReaderSize(&c.limit, 4<<10)
	return c, false, nil
}

// put keeps c for the next request to host, or closes it.
func (t *hopConns) put(host string, c *hopConn) {
	c.lastUsed = time.Now()
	t.mu.Lock()
	if !t.closed && len(t.idle[host]) < t.maxIdle {
		t.idle[host] = append(t.idle[host], c)
		c = nil
		if t.sweep == nil {
			t.sweep = time.AfterFunc(t.idleFor, t.closeStale)
		}
	}
	t.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// closeStale closes the connections idle for idleFor or longer, and looks
// again later while some are idle (as http.Transport's IdleConnTimeout: a
// holder that left keeps no connections open here).
func (t *hopConns) closeStale() {
	var stale []*hopConn
	t.mu.Lock()
	now := time.Now()
	for host, list := range t.idle {
		kept := list[:0]
		for _, c := range list {
			if now.Sub(c.lastUsed) >= t.idleFor {
				stale = append(stale, c)
			} else {
				kept = append(kept, c)
			}
		}
		clear(list[len(kept):])
		if t.idle[host] = kept; len(kept) == 0 {
			delete(t.idle, host)
		}
	}
	t.sweep = nil
	if len(t.idle) > 0 && !t.closed {
		t.sweep = time.AfterFunc(t.idleFor/2, t.closeStale)
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.Close()
	}
}

// shutdown closes every idle connection, next's too, and those in use
// once their response was read (Manager.Close): none stays open after.
func (t *hopConns) shutdown() {
	t.mu.Lock()
	t.closed = true
	if t.sweep != nil {
		t.sweep.Stop()
		t.sweep = nil
	}
	t.mu.Unlock()
	t.CloseIdleConnections() // after closed is set: nothing is put back, nor swept again
}

// CloseIdleConnections closes every idle connection, next's too.
func (t *hopConns) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = make(map[string][]*hopConn)
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.Close()
		}
	}
	t.next.CloseIdleConnections()
}

// hopConnBody is a response body on a pooled connection: the connection
// goes back to the pool once the body was read to its end, else it is
// closed (never drained: an event stream has no end).
type hopConnBody struct {
	rc   io.ReadCloser
	c    *hopConn
	t    *hopConns
	host string
	stop func() bool // of the context's AfterFunc; false: it ran
	eof  bool
	keep bool // the holder did not ask to close the connection
	done bool
}

func (b *hopConnBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *hopConnBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	reuse := b.stop() && b.eof && b.keep
	if !reuse {
		b.c.Close() // first: the body's Close would read to the end
	}
	err := b.rc.Close()
	if reuse {
		b.t.put(b.host, b.c)
	}
	return err
}
