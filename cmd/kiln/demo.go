package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/kilnhq/kiln/internal/demo"
)

var demoCommand = command{
	name:    "demo",
	summary: "run a cluster on this machine: NATS, cart nodes and a load balancer",
	run:     runDemo,
}

// runDemo starts a demo cluster, prints where it is, and runs it until
// ctx ends (SIGINT or SIGTERM).
func runDemo(ctx context.Context, args []string, stdout io.Writer) error {
	opts, err := demoFlags(args)
	if err != nil {
		return err
	}
	d, err := demo.Start(ctx, opts)
	if err != nil {
		return err
	}
	printDemo(stdout, d, opts.Sticky)
	<-ctx.Done()
	slog.Info("kiln demo: stopping")
	return d.Close()
}

func demoFlags(args []string) (demo.Options, error) {
	var o demo.Options
	fs := flag.NewFlagSet("kiln demo", flag.ContinueOnError)
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "the load balancer's listen address")
	fs.IntVar(&o.Nodes, "nodes", 3, fmt.Sprintf("number of cart nodes, 1..%d", demo.MaxNodes))
	fs.BoolVar(&o.Sticky, "sticky", false, "route by the session ID's node suffix instead of round robin (whose nodes relay requests to the session's holder)")
	fs.StringVar(&o.ConsoleAddr, "console-addr", "127.0.0.1:8090", "the operator console's listen address")
	if err := parseFlags(fs, args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case o.Nodes < 1 || o.Nodes > demo.MaxNodes:
		return o, fmt.Errorf("%w: -nodes %d: want 1..%d", errUsage, o.Nodes, demo.MaxNodes)
	}
	return o, nil
}

// printDemo tells the user where everything is and what to try.
func printDemo(w io.Writer, d *demo.Demo, sticky bool) {
	fmt.Fprintf(w, "kiln demo: %s\n", d.ProxyURL())
	fmt.Fprintf(w, "  chat     %s\n", d.ChatURL())
	for _, n := range d.Nodes() {
		fmt.Fprintf(w, "  node %-3s %s\n", n.Name, n.URL)
	}
	fmt.Fprintf(w, "  nats     %s\n", d.NATSURL())
	user, file := d.NodeLogin()
	fmt.Fprintf(w, "  login    %s (the node role); password in %s\n", user, file)
	cuser, cpass := d.ConsoleLogin()
	fmt.Fprintf(w, "  console  %s  user %s  password %s\n", d.ConsoleURL(), cuser, cpass)
	if sticky {
		fmt.Fprintf(w, "Open %s and click: each session stays on the node its ID names, and moves only if that node dies.\n", d.ProxyURL())
	} else {
		fmt.Fprintf(w, "Open %s and click: the proxy spreads your requests over the nodes, and they relay each one to the node holding your session ('served by'); stop that node and another takes over with your cart.\n", d.ProxyURL())
	}
	fmt.Fprintf(w, "Open %s in two tabs: a message typed in one arrives in the other, whichever nodes serve them.\n", d.ChatURL())
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}
