package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// health answers /healthz (the process and its NATS server run),
// /readyz (the server can take sessions) and /metrics. It is safe for concurrent use.
type health struct {
	srv     *natsengine.Server
	eng     atomic.Pointer[natsengine.Engine] // set once the buckets are open
	waiting atomic.Pointer[string]            // why the buckets are not open yet
	metrics http.Handler                      // /metrics (metrics.go); nil: none
	console http.Handler                      // nil: no console (console.go); set before handler
}

func newHealth(srv *natsengine.Server) *health {
	h := &health{srv: srv}
	h.setWaiting("starting")
	return h
}

func (h *health) setWaiting(why string) { h.waiting.Store(&why) }

func (h *health) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	if h.metrics != nil {
		mux.Handle("GET /metrics", h.metrics)
	}
	if h.console != nil {
		mux.Handle(ConsolePath, h.console)
	}
	return mux
}

func (h *health) healthz(w http.ResponseWriter, _ *http.Request) {
	if !h.srv.NATS().Running() {
		http.Error(w, "nats server not running", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (h *health) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := h.notReady(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// notReady says why the server cannot take sessions, nil if it can.
func (h *health) notReady() error {
	eng := h.eng.Load()
	if eng == nil {
		return fmt.Errorf("session buckets not open: %s", *h.waiting.Load())
	}
	if err := h.srv.Healthz(); err != nil {
		return err
	}
	if !eng.Conn().IsConnected() {
		return errors.New("session buckets: client disconnected")
	}
	return nil
}

// httpServer serves h on a listener of its own.
type httpServer struct {
	hs   *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns
}

// serveHTTP listens on addr and serves h; addr "" serves nothing (nil).
func serveHTTP(addr string, h *health, log *slog.Logger) (*httpServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", addr, err)
	}
	s := &httpServer{
		hs:   &http.Server{Handler: h.handler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("kiln server: http", "err", err)
		}
	}()
	return s, nil
}

// addr is the address served, "" for none.
func (s *httpServer) addr() string {
	if s == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// shutdown lets in-flight requests finish until ctx ends, then closes.
func (s *httpServer) shutdown(ctx context.Context) {
	if s == nil {
		return
	}
	if err := s.hs.Shutdown(ctx); err != nil {
		s.hs.Close()
	}
	<-s.done
}
