// Command cart serves kiln's sample shopping cart (package cartapp) as one
// node of a cluster. Start several, on different ports and with different
// -node names, against one NATS server, and put any load balancer in
// front: every node serves every session.
//
//	cart -node n1 -addr 127.0.0.1:8081                # embeds a NATS server, logs its URL
//	cart -node n2 -addr 127.0.0.1:8082 -engine nats://127.0.0.1:PORT
//	KILN_TOKEN=s3cret cart -node n3 -engine nats://10.0.0.1:4222,nats://10.0.0.2:4222 -tls-ca ca.pem
//	cart -id-header X-Session-Token                   # the JSON API with the ID in a header, no cookie
//
// With -engine it waits for the server (a `kiln server` or any NATS server
// with JetStream) to come up, retrying with backoff and logging each retry,
// for up to -connect-timeout. Credentials come from -token, or -user and
// -password, or -nkey-seed (a file holding an NKey user seed, for a
// kiln server user with an nkey); KILN_TOKEN and KILN_PASSWORD keep them
// off the command line.
// It never logs them.
//
// It serves its Manager's Prometheus metrics on GET /metrics
// (docs/metrics.md), prints the URL it listens on to stdout, logs to
// stderr, and stops gracefully on SIGINT or SIGTERM.
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
	"github.com/kilnhq/kiln/internal/cartapp"
	"github.com/kilnhq/kiln/internal/serve"
)

// options are the command line flags.
type options struct {
	addr           string        // listen address
	node           string        // kiln node name
	engine         string        // NATS URLs, comma-separated; "" embeds a server
	bucket         string        // KV bucket
	connectTimeout time.Duration // how long to wait for the server at start
	token          string        // secret: never logged
	user           string
	password       string // secret: never logged
	nkeySeed       string // file holding an NKey user seed
	tlsCA          string // PEM file of the CAs that sign the server's certificate
	tlsCert        string // PEM file of the client certificate (mutual TLS)
	tlsKey         string // PEM file of its key
	idHeader       string // header carrying the session ID instead of the cookie; "" for the cookie
}

// Environment variables that supply secrets instead of flags, which other
// users of the machine can see in the process list.
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
		slog.Error("cart: exiting", "err", err)
		os.Exit(1)
	}
}

// run serves the cart until ctx ends.
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
	m, err := newManager(st, opts, log)
	if err != nil {
		return err
	}
	defer m.Close()
	return serve.Serve(ctx, "cart", opts.addr, cartapp.Wrap(m, opts.node), stdout, log)
}

// parseFlags parses args; getenv supplies the secrets not given as flags.
func parseFlags(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("cart", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8081", "listen address")
	fs.StringVar(&o.node, "node", "n1", "this node's name (suffix of session IDs)")
	fs.StringVar(&o.engine, "engine", "", "kiln server (NATS) URLs, comma-separated; empty starts an embedded server")
	fs.StringVar(&o.bucket, "bucket", "kiln", "JetStream KV bucket of the sessions")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 2*time.Minute, "how long to wait for the server at start")
	fs.StringVar(&o.token, "token", "", "auth token (default $"+envToken+")")
	fs.StringVar(&o.user, "user", "", "user name")
	fs.StringVar(&o.password, "password", "", "password of -user (default $"+envPassword+")")
	fs.StringVar(&o.nkeySeed, "nkey-seed", "", "file holding an NKey user seed (SU...), instead of a password")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "PEM file of the CAs that sign the server's certificate")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM file of the client certificate, for mutual TLS")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM file of the client certificate's key")
	fs.StringVar(&o.idHeader, "id-header", "", "carry the session ID in this header (e.g. X-Session-Token) instead of the cookie, for API clients")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := o.check(fs.Args()); err != nil {
		return o, err
	}
	o.secretsFromEnv(getenv)
	return o, nil
}

// secretsFromEnv fills in the token, and the password of a user, that the
// flags left empty. (Not flag defaults: -h would print them.)
func (o *options) secretsFromEnv(getenv func(string) string) {
	if o.token == "" {
		o.token = getenv(envToken)
	}
	if o.password == "" && o.user != "" {
		o.password = getenv(envPassword)
	}
}

// check reports what the flags cannot mean together.
func (o options) check(rest []string) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected arguments: %q", rest)
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return errors.New("-tls-cert and -tls-key go together")
	case o.password != "" && o.user == "":
		return errors.New("-password needs -user")
	case o.connectTimeout <= 0:
		return fmt.Errorf("-connect-timeout %s: want a positive duration", o.connectTimeout)
	}
	return nil
}

// newManager returns the node's kiln Manager.
func newManager(st *store, opts options, log *slog.Logger) (*kiln.Manager, error) {
	cfg := kiln.DefaultConfig()
	cfg.Node = opts.node
	if opts.idHeader != "" {
		cfg.IDTransport, cfg.IDHeader = kiln.IDInHeader, opts.idHeader
	}
	cfg.Logger = log
	cfg.ErrorHandler = cartapp.ErrorHandler
	return kiln.New(st.eng, cfg)
}
