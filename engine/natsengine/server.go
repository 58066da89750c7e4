package natsengine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerOptions configure an embedded NATS server with JetStream.
type ServerOptions struct {
	// Host is the client listen address. Default 127.0.0.1.
	Host string
	// Port is the client port: 0 means 4222, -1 a random free port.
	Port int
	// StoreDir is where JetStream keeps its data. Required unless InMemory.
	StoreDir string
	// InMemory allows an empty StoreDir: the server then gets a private
	// temporary directory, removed by Shutdown, and buckets must use
	// memory storage (Options.Memory) to keep their data out of it.
	InMemory bool
	// ServerName names the server in logs and in a future cluster.
	// Default: chosen by NATS.
	ServerName string
	// DontListen serves in-process connections only (Options.InProcess);
	// no TCP port is opened.
	DontListen bool
	// SyncAlways fsyncs every write before acknowledging it: acknowledged
	// writes then survive power loss, at about 10x the write cost. Without
	// it the file store fsyncs every 2 minutes.
	SyncAlways bool
	// Token, or User and Password, require clients to authenticate.
	Token    string
	User     string
	Password string
	// Logger receives the server's log; nil silences it.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the server to accept connections.
	// Default 10s.
	ReadyTimeout time.Duration
}

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
		wait = 10 * time.Second
	}
	if !srv.ns.ReadyForConnections(wait) {
		srv.Shutdown()
		return nil, fmt.Errorf("natsengine: server not ready for connections after %s (port %d in use?)", wait, sopts.Port)
	}
	return srv, nil
}

// serverOptions translates opts; tempDir is a directory it created.
func serverOptions(opts ServerOptions) (sopts *server.Options, tempDir string, err error) {
	storeDir := opts.StoreDir
	if storeDir == "" {
		if !opts.InMemory {
			return nil, "", errors.New("natsengine: ServerOptions.StoreDir is required unless InMemory is set")
		}
		if storeDir, err = os.MkdirTemp("", "kiln-nats-"); err != nil {
			return nil, "", fmt.Errorf("natsengine: temp store dir: %w", err)
		}
		tempDir = storeDir
	}
	sopts = &server.Options{
		Host:          opts.Host,
		Port:          opts.Port,
		ServerName:    opts.ServerName,
		DontListen:    opts.DontListen,
		JetStream:     true,
		StoreDir:      storeDir,
		SyncAlways:    opts.SyncAlways,
		Authorization: opts.Token,
		Username:      opts.User,
		Password:      opts.Password,
		NoSigs:        true,
		NoLog:         opts.Logger == nil,
	}
	if sopts.Host == "" {
		sopts.Host = "127.0.0.1"
	}
	if sopts.Port == 0 {
		sopts.Port = 4222
	}
	return sopts, tempDir, nil
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
