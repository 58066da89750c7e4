// Package serve runs the sample apps' HTTP servers (examples/cart,
// examples/chat): listen, say where, serve until the context ends, then
// shut down gracefully.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// shutdownTimeout bounds the wait for in-flight requests at shutdown.
const shutdownTimeout = 10 * time.Second

// Serve serves h on addr until ctx ends, then shuts down gracefully. It
// prints the URL it listens on to stdout once connections are accepted;
// name prefixes its log lines ("cart", "chat").
func Serve(ctx context.Context, name, addr string, h http.Handler, stdout io.Writer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	log.Info(name+": listening", "url", url)
	fmt.Fprintf(stdout, "listening on %s\n", url)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info(name + ": shutting down")
	return shutdown(srv, served)
}

// shutdown stops srv, waiting up to shutdownTimeout for in-flight
// requests, and returns what Serve returned if it was not the expected
// http.ErrServerClosed.
func shutdown(srv *http.Server, served <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
