package natsengine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running embedded NATS server.
type Server struct {
	ns      *server.Server
	tempDir string // removed by Shutdown; "" if the caller owns StoreDir
	listen  bool
}

// StartServer starts an embedded NATS server with JetStream and waits
// until it accepts connections.
func StartServer(opts ServerOptions) (*Server, error) {
	sopts, tempDir, err := serverOptions(opts)
	if err != nil {
		return nil, err
	}
	srv := &Server{tempDir: tempDir, listen: !opts.DontListen}
	srv.ns, err = server.NewServer(sopts)
	if err != nil {
		srv.removeTemp()
		return nil, fmt.Errorf("natsengine: start server: %w", err)
	}
	if opts.Logger != nil {
		srv.ns.SetLogger(slogAdapter{opts.Logger}, false, false)
	}
	srv.ns.Start()
	wait := opts.ReadyTimeout
	if wait <= 0 {
		wait = defaultReadyTimeout
	}
	if !srv.ns.ReadyForConnections(wait) {
		srv.Shutdown()
		return nil, fmt.Errorf("natsengine: server not ready for connections after %s (port %d in use?)", wait, sopts.Port)
	}
	return srv, nil
}

// WaitJetStreamReady waits until the server's JetStream is enabled and,
// in a cluster, the cluster has elected its meta leader and this server
// is current with it: only then can buckets be created. A cluster of 3
// needs 2 of its servers up to elect one. It returns the last reason for
// not being ready once ctx ends.
func (s *Server) WaitJetStreamReady(ctx context.Context) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		err := s.health(&server.HealthzOptions{JSMetaOnly: true})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsengine: JetStream not ready: %w (%w)", err, ctx.Err())
		case <-tick.C:
		}
	}
}

// Healthz reports whether the server is ready to serve: it accepts
// connections, JetStream is enabled and, in a cluster, current with the
// meta leader, and the streams and consumers it holds are current. Nil
// means ready; for a /readyz endpoint.
func (s *Server) Healthz() error {
	return s.health(nil)
}

func (s *Server) health(opts *server.HealthzOptions) error {
	st := s.ns.Healthz(opts)
	if st == nil || st.Error == "" && len(st.Errors) == 0 && st.StatusCode < 300 {
		return nil
	}
	msg := st.Error
	for _, e := range st.Errors {
		msg += "; " + e.Error
	}
	return fmt.Errorf("natsengine: server %s: %s", st.Status, strings.TrimPrefix(msg, "; "))
}

// ClientURL is the URL clients connect to, "" with DontListen.
func (s *Server) ClientURL() string {
	if !s.listen {
		return ""
	}
	return s.ns.ClientURL()
}

// NATS returns the underlying server, for what this package does not cover.
func (s *Server) NATS() *server.Server { return s.ns }

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.removeTemp()
}

func (s *Server) removeTemp() {
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
}

// slogAdapter feeds the server's log into slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
