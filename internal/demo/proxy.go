package demo

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"time"
)

// ReceivedByHeader names, on every response through the demo's proxy,
// the node the proxy sent the request to.
const ReceivedByHeader = "X-Kiln-Received-By"

// proxy is the demo's load balancer: a reverse proxy over the nodes.
type proxy struct {
	web       *webServer
	url       string
	transport *http.Transport
}

// startProxy serves a reverse proxy over p's nodes on addr.
func startProxy(addr string, p *pool, log *slog.Logger) (*proxy, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone() // keep-alive
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(p.pick(pr.In))
			pr.Out.Host = pr.In.Host // as a balancer does: the chat's WebSocket origin check compares it with Origin
			pr.SetXForwarded()
			if pr.Out.Body != nil {
				pr.Out.Body = &unsentBody{ReadCloser: pr.Out.Body}
			}
		},
		// The node the balancer sent the request to; X-Kiln-Node names
		// the one that served it (round robin relays it to the holder).
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set(ReceivedByHeader, p.nameOf(resp.Request.URL.Host))
			return nil
		},
		Transport:    &failover{base: transport, pool: p, log: log},
		ErrorHandler: proxyError(log),
	}
	web, err := startWebServer(addr, rp)
	if err != nil {
		return nil, fmt.Errorf("demo: proxy: %w", err)
	}
	log.Info("demo: proxy started", "url", web.url, "sticky", p.sticky)
	return &proxy{web: web, url: web.url, transport: transport}, nil
}

// proxyError answers 502 when no node could serve a request.
func proxyError(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		log.Warn("demo: proxy: no node answered", "method", r.Method, "path", r.URL.Path, "err", err)
		http.Error(w, "kiln demo: no node answered", http.StatusBadGateway)
	}
}

// forgetConnections drops idle connections to the nodes, so that requests
// to a stopped node fail to connect (and fail over) rather than fail on
// a connection it had closed.
func (p *proxy) forgetConnections() { p.transport.CloseIdleConnections() }

// stop stops serving, then drops the connections to the nodes.
func (p *proxy) stop(timeout time.Duration) error {
	err := p.web.stop(timeout)
	p.forgetConnections()
	return err
}
