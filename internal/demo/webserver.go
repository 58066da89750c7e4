package demo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// webServer is an http.Server serving on its own listener.
type webServer struct {
	srv    *http.Server
	url    string
	served chan error // Serve's result
}

// startWebServer listens on addr and serves h in a goroutine.
func startWebServer(addr string, h http.Handler) (*webServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return serveWeb(ln, h), nil
}

// serveWeb serves h on ln in a goroutine.
func serveWeb(ln net.Listener, h http.Handler) *webServer {
	w := &webServer{
		srv:    &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		url:    "http://" + ln.Addr().String(),
		served: make(chan error, 1),
	}
	go func() { w.served <- w.srv.Serve(ln) }()
	return w
}

// stop shuts the server down gracefully, or closes it past timeout, and
// waits for Serve to return.
func (w *webServer) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := w.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, w.srv.Close())
	}
	if serr := <-w.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// kill closes the listener and every connection at once, as a dying
// process would, and waits for Serve to return.
func (w *webServer) kill() error {
	err := w.srv.Close()
	if serr := <-w.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
