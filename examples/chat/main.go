// Command chat serves kiln's sample chat (package chatapp) as one node of
// a cluster: rooms, who is online, history on join, every message
// delivered to the browsers on every node through kiln's channel Hub.
// Start several against one NATS server (or `kiln server`) and put any
// load balancer in front:
//
//	chat -node n1 -addr 127.0.0.1:8091                # embeds a NATS server, logs its URL
//	chat -node n2 -addr 127.0.0.1:8092 -engine nats://127.0.0.1:4222
//	KILN_TOKEN=s3cret chat -node n3 -engine nats://10.0.0.1:4222
//
// With -engine it waits for the server, retrying with backoff, for up to
// -connect-timeout. Credentials come from -token, or -user and -password;
// KILN_TOKEN and KILN_PASSWORD keep them off the command line. It never
// logs them. It prints the URL it listens on to stdout, logs to stderr,
// and stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/internal/chatapp"
	"github.com/kilnhq/kiln/internal/serve"
)

// options are the command line flags.
type options struct {
	addr           string
	node           string
	engine         string // NATS URLs, comma-separated; "" embeds a server
	bucket         string
	connectTimeout time.Duration
	token          string // secret: never logged
	user           string
	password       string // secret: never logged
}

const (
	envToken    = "KILN_TOKEN"
	envPassword = "KILN_PASSWORD"
)

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		slog.Error("chat: exiting", "err", err)
		os.Exit(1)
	}
}

// run serves the chat until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	opts, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	log := slog.Default().With("node", opts.node)
	st, err := openStore(ctx, opts, log)
	if err != nil {
		return err
	}
	defer st.Close()
	hub, err := channel.NewHub(ctx, st.eng.Conn(), channel.Options{
		Node: opts.node, Bucket: opts.bucket, Authorize: chatapp.Authorizer{}, Logger: log,
	})
	if err != nil {
		return err
	}
	defer hub.Close()
	m, err := newManager(st, hub, opts, log)
	if err != nil {
		return err
	}
	defer m.Close()
	return serve.Serve(ctx, "chat", opts.addr, chatapp.Wrap(m, hub, opts.node), stdout, log)
}

func parseFlags(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8091", "listen address")
	fs.StringVar(&o.node, "node", "n1", "this node's name")
	fs.StringVar(&o.engine, "engine", "", "kiln server (NATS) URLs, comma-separated; empty starts an embedded server")
	fs.StringVar(&o.bucket, "bucket", "kiln", "JetStream KV bucket of the sessions (the channels go beside it)")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 2*time.Minute, "how long to wait for the server at start")
	fs.StringVar(&o.token, "token", "", "auth token (default $"+envToken+")")
	fs.StringVar(&o.user, "user", "", "user name")
	fs.StringVar(&o.password, "password", "", "password of -user (default $"+envPassword+")")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.connectTimeout <= 0:
		return o, fmt.Errorf("-connect-timeout %s: want a positive duration", o.connectTimeout)
	}
	if o.token == "" {
		o.token = getenv(envToken)
	}
	if o.password == "" && o.user != "" {
		o.password = getenv(envPassword)
	}
	return o, nil
}

// newManager returns the node's kiln Manager; a session's end (logout on
// any node, expiry) closes its streams on every node.
func newManager(st *store, hub *channel.Hub, opts options, log *slog.Logger) (*kiln.Manager, error) {
	cfg := kiln.DefaultConfig()
	cfg.Node = opts.node
	cfg.Logger = log
	cfg.ErrorHandler = chatapp.ErrorHandler
	cfg.OnDestroyed = hub.OnDestroyed
	return kiln.New(st.eng, cfg)
}
