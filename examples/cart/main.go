// Command cart serves kiln's sample shopping cart (package cartapp) as one
// node of a cluster. Start several, on different ports and with different
// -node names, against one NATS server, and put any load balancer in
// front: every node serves every session.
//
//	cart -node n1 -addr 127.0.0.1:8081                # embeds a NATS server, logs its URL
//	cart -node n2 -addr 127.0.0.1:8082 -engine nats://127.0.0.1:PORT
//
// It prints the URL it listens on to stdout, logs to stderr, and stops
// gracefully on SIGINT or SIGTERM.
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

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/examples/cart/cartapp"
)

// options are the command line flags.
type options struct {
	addr   string // listen address
	node   string // kiln node name
	engine string // NATS URL; "" embeds a server
	bucket string // KV bucket
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		slog.Error("cart: exiting", "err", err)
		os.Exit(1)
	}
}

// run serves the cart until ctx ends.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	opts, err := parseFlags(args)
	if err != nil {
		return err
	}
	log := slog.Default().With("node", opts.node)
	st, err := openStore(ctx, opts, log)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := newManager(st, opts.node, log)
	if err != nil {
		return err
	}
	defer m.Close()
	return serve(ctx, opts.addr, cartapp.Wrap(m, opts.node), stdout, log)
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("cart", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8081", "listen address")
	fs.StringVar(&o.node, "node", "n1", "this node's name (suffix of session IDs)")
	fs.StringVar(&o.engine, "engine", "", "NATS server URL; empty starts an embedded server")
	fs.StringVar(&o.bucket, "bucket", "kiln", "JetStream KV bucket of the sessions")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return o, nil
}

// newManager returns the node's kiln Manager.
func newManager(st *store, node string, log *slog.Logger) (*kiln.Manager, error) {
	cfg := kiln.DefaultConfig()
	cfg.Node = node
	cfg.Logger = log
	cfg.ErrorHandler = cartapp.ErrorHandler
	return kiln.New(st.eng, cfg)
}
