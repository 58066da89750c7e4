package kiln

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// The hop's request and response, copied as httputil.ReverseProxy copies
// them (hop-by-hop headers dropped both ways, trailers and informational
// responses passed on, a broken response body aborting the client's
// connection), without its second request clone, second client trace and
// intermediate header map: a relayed request costs what its two HTTP
// messages cost, little more.

// hopHeaders are the hop-by-hop headers (RFC 9110 7.6.1), never copied
// across the hop; nor are those a Connection header names.
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// forwardingHeaders travel as the client sent them: the hop is not a proxy
// the app should see (the client's address travels in Kiln-Relay).
var forwardingHeaders = [...]string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// Values shared by every hop request; never modified.
var (
	noUserAgent    = []string{""} // the client sent none: the transport adds none
	teTrailers     = []string{"trailers"}
	expectContinue = []string{"100-continue"}
)

// roundTrip sends the hop's request (with context ctx) and copies the
// holder's response to the client, or hands a failure to failed.
func (h *hopProxy) roundTrip(ctx context.Context, hp *hop) {
	res, err := h.rt.RoundTrip(h.outgoing(ctx, hp))
	hp.mu.Lock()
	hp.returned = true
	hp.mu.Unlock()
	switch {
	case err != nil:
		h.failed(hp, err)
	case res.StatusCode == http.StatusSwitchingProtocols:
		res.Body.Close() // the hop asks for no upgrade (relayable)
		h.failed(hp, errors.New("kiln: relay: the holder switched protocols on a request that asked for none"))
	case res.StatusCode == http.StatusMisdirectedRequest && res.Header.Get(relayHeader) == notHere:
		res.Body.Close()
		h.failed(hp, errNotHere)
	default:
		copyResponse(hp, res)
	}
}

// outgoing is the hop's request: the request as the client sent it, with
// its original URI (the holder runs its whole handler chain again), its
// Host, and its forwarding headers unchanged, addressed to the holder.
func (h *hopProxy) outgoing(ctx context.Context, hp *hop) *http.Request {
	in := hp.in
	u := *in.URL
	u.Scheme, u.Host = hp.peer.url.Scheme, hp.peer.url.Host
	if p, err := url.ParseRequestURI(in.RequestURI); err == nil && in.RequestURI != "" {
		u.Path, u.RawPath, u.RawQuery = p.Path, p.RawPath, p.RawQuery
	}
	hdr := make(http.Header, len(in.Header)+2)
	copyEndToEnd(hdr, in.Header) // value slices shared: the hop only replaces keys
	for _, name := range forwardingHeaders {
		if v, ok := in.Header[name]; ok {
			hdr[name] = v
		}
	}
	if hasToken(in.Header["Te"], "trailers") {
		hdr["Te"] = teTrailers
	}
	if _, ok := hdr["User-Agent"]; !ok {
		hdr["User-Agent"] = noUserAgent
	}
	f := hopFields{from: h.r.self, remoteAddr: in.RemoteAddr}
	if in.TLS != nil {
		f.tlsVersion, f.serverName = in.TLS.Version, in.TLS.ServerName
	}
	hdr[relayHeader] = []string{f.header(hp.peer.token)}
	out := &http.Request{
		Method: in.Method, URL: &u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Host: in.Host, Trailer: in.Trailer.Clone(),
	}
	if hp.body != nil {
		out.Body, out.ContentLength = hp.body, in.ContentLength // no GetBody: never sent twice
		hdr["Expect"] = expectContinue
	}
	return out.WithContext(ctx)
}

// copyEndToEnd copies src's headers to dst but the hop-by-hop ones.
func copyEndToEnd(dst, src http.Header) {
	var named []string // the Connection header's names, canonical
	for _, v := range src["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				named = append(named, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	for k, v := range src {
		if !hopHeaders[k] && !contains(named, k) {
			dst[k] = v
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// hasToken reports whether a comma-separated header value lists token
// (case-insensitive).
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(t), token) {
				return true
			}
		}
	}
	return false
}

// got1xx passes the holder's informational responses on, until the round
// trip returned.
func (hp *hop) got1xx(code int, header textproto.MIMEHeader) error {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	if !hp.returned {
		hp.out.informational(code, http.Header(header))
	}
	return nil
}

// copyResponse copies the holder's response to the client. A body that
// breaks off aborts the client's connection (http.ErrAbortHandler): its
// status went out already.
func copyResponse(hp *hop, res *http.Response) {
	defer res.Body.Close()
	hdr := res.Header
	dropHopHeaders(hdr)
	delete(hdr, relayHeader)
	announced := len(res.Trailer) // the transport's response has no Trailer header: built from these
	if announced > 0 {
		names := make([]string, 0, announced)
		for k := range res.Trailer {
			names = append(names, k)
		}
		hdr["Trailer"] = []string{strings.Join(names, ", ")}
	}
	hp.out.respond(res.StatusCode, hdr)
	w := hp.out.ResponseWriter
	if err := copyBody(w, res.Body, streaming(res)); err != nil {
		panic(http.ErrAbortHandler)
	}
	res.Body.Close() // now: it fills res.Trailer
	copyTrailers(w, res.Trailer, len(res.Trailer) == announced)
}

// dropHopHeaders removes the hop-by-hop headers from h, and those its
// Connection header names.
func dropHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for k := range hopHeaders {
		delete(h, k)
	}
}

// streaming reports whether the response is flushed as it comes: an event
// stream, or a body of unknown length (a long poll).
func streaming(res *http.Response) bool {
	if res.ContentLength == -1 {
		return true
	}
	ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	return ct == "text/event-stream"
}

// copyBody copies the holder's response body to w with a pooled buffer,
// flushing after each write if flush; the error is the first read (but
// io.EOF) or write error.
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	buf := hopBufferPool.Get().(*[32 << 10]byte)
	defer hopBufferPool.Put(buf)
	var rc *http.ResponseController
	if flush {
		rc = http.NewResponseController(w)
	}
	for {
		n, rerr := body.Read(buf[:])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush {
				rc.Flush() // as ReverseProxy: a failed flush shows in the next write
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// copyTrailers sends the holder's trailers. If they are the ones it
// announced, they go in the header map as they are; else all of them with
// the TrailerPrefix. A response with trailers is
// flushed first, so that it is chunked (a short body would otherwise get a
// Content-Length, and no trailers).
func copyTrailers(w http.ResponseWriter, trailer http.Header, announced bool) {
	if len(trailer) == 0 {
		return
	}
	http.NewResponseController(w).Flush()
	hdr := w.Header()
	for k, vv := range trailer {
		if !announced {
			k = http.TrailerPrefix + k
		}
		for _, v := range vv {
			hdr.Add(k, v)
		}
	}
}
