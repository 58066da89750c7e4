package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// MaxNodes is the most nodes a demo runs (names n1..n9).
const MaxNodes = 9

// closeTimeout bounds the wait for in-flight requests when the demo stops.
const closeTimeout = 5 * time.Second

// Options configure a demo. The zero value is usable.
type Options struct {
	// Addr is the proxy's listen address. Default 127.0.0.1:8080; use
	// 127.0.0.1:0 for a random port.
	Addr string
	// Nodes is the number of cart nodes, 1..MaxNodes. Default 3.
	Nodes int
	// Sticky routes by the session ID's node suffix instead of round robin.
	// Round robin (the default) runs the nodes with request relaying
	// (kiln.Config.RelayURL): a node that gets a request on a session
	// another node holds forwards it there instead of moving the lease.
	Sticky bool
	// Bucket names the sessions' KV bucket. Default "kiln".
	Bucket string
	// ConsoleAddr is the operator console's listen address. Default
	// 127.0.0.1:0 (a random port; kiln demo asks for 127.0.0.1:8090).
	ConsoleAddr string
	// Logger receives the demo's diagnostics. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.ConsoleAddr == "" {
		o.ConsoleAddr = "127.0.0.1:0"
	}
	if o.Bucket == "" {
		o.Bucket = "kiln"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Nodes < 1 || o.Nodes > MaxNodes {
		return o, fmt.Errorf("demo: Options.Nodes %d: want 1..%d", o.Nodes, MaxNodes)
	}
	return o, nil
}

// Demo is a running cluster: NATS server, cart nodes and proxy.
type Demo struct {
	log       *slog.Logger
	dir       string // the NATS server's store, removed by Close
	nats      *natsengine.Server
	nodeLogin login  // what the cart nodes log in as (the node role)
	pass      string // the file holding nodeLogin's password
	nodes     []*node
	proxy     *proxy
	console   *demoConsole // console.go

	closeOnce sync.Once
	closeErr  error
}

// Node describes one cart node of a demo.
type Node struct {
	Name string // n1, n2, ...
	URL  string // http://127.0.0.1:PORT
}

// Start starts a demo; Close stops it. ctx bounds the start only.
func Start(ctx context.Context, opts Options) (*Demo, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Demo{log: opts.Logger}
	if err := d.start(ctx, opts); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

func (d *Demo) start(ctx context.Context, opts Options) error {
	admin := newLogin(adminUser)
	d.nodeLogin = newLogin(nodeUser)
	if err := d.startNATS(serverUsers(admin, d.nodeLogin, opts.Bucket)); err != nil {
		return err
	}
	if err := createBucket(ctx, d.nats.ClientURL(), opts.Bucket, admin); err != nil {
		return err
	}
	for i := 1; i <= opts.Nodes; i++ {
		n, err := startNode(ctx, fmt.Sprintf("n%d", i), d.nats.ClientURL(), opts.Bucket, d.nodeLogin, !opts.Sticky, d.log)
		if err != nil {
			return err
		}
		d.nodes = append(d.nodes, n)
	}
	var err error
	if d.console, err = startConsole(ctx, d, opts.ConsoleAddr, opts.Bucket, admin, d.log); err != nil {
		return err
	}
	d.proxy, err = startProxy(opts.Addr, newPool(d.nodes, opts.Sticky), d.log)
	return err
}

// startNATS starts the embedded JetStream server on a random loopback
// port, with its file store in a fresh temporary directory and users
// (auth.go).
func (d *Demo) startNATS(users []natsengine.ServerUser) error {
	dir, err := os.MkdirTemp("", "kiln-demo-")
	if err != nil {
		return fmt.Errorf("demo: NATS store: %w", err)
	}
	d.dir = dir
	if d.pass, err = writePassword(dir, d.nodeLogin); err != nil {
		return err
	}
	d.nats, err = natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: dir, Users: users})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.log.Info("demo: NATS server started", "url", d.nats.ClientURL(), "store", dir, "node_user", d.nodeLogin.user)
	return nil
}

// NodeLogin is the user name cart nodes log in as (the node role) and the
// file that holds its password.
func (d *Demo) NodeLogin() (user, passwordFile string) { return d.nodeLogin.user, d.pass }

// ProxyURL is the URL of the load-balancing proxy: what a browser opens.
func (d *Demo) ProxyURL() string { return d.proxy.url }

// ChatURL is the chat's page behind the proxy: open it in two tabs, and a
// message typed in one (served by one node) arrives in the other (another).
func (d *Demo) ChatURL() string { return d.proxy.url + "/chat/" }

// NATSURL is the embedded NATS server's client URL; more nodes (such as
// examples/cart with -engine) can join the cluster through it.
func (d *Demo) NATSURL() string { return d.nats.ClientURL() }

// Nodes describes the cart nodes, in order.
func (d *Demo) Nodes() []Node {
	out := make([]Node, len(d.nodes))
	for i, n := range d.nodes {
		out[i] = Node{Name: n.name, URL: n.url}
	}
	return out
}

// StopNode stops one node as SIGTERM stops a web process: it finishes
// its in-flight requests and closes its Manager, which hands its sessions
// over at once. Its port then refuses connections and the proxy sends
// its requests to the others.
func (d *Demo) StopNode(name string) error {
	n, err := d.node(name)
	if err != nil {
		return err
	}
	err = n.stop(closeTimeout)
	d.proxy.forgetConnections()
	return err
}

// CrashNode stops one node as kill -9 stops a web process: its
// connections drop and nothing is handed over. Its sessions are taken
// over by the others once its liveness record expires (kiln's
// LivenessTTL), with every acknowledged change; until then requests on
// them wait.
func (d *Demo) CrashNode(name string) error {
	n, err := d.node(name)
	if err != nil {
		return err
	}
	err = n.crash()
	d.proxy.forgetConnections()
	return err
}

// node is the node called name.
func (d *Demo) node(name string) (*node, error) {
	for _, n := range d.nodes {
		if n.name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("demo: no node %q", name)
}

// Close stops the proxy, the nodes (their HTTP servers, then their engine
// connections), the NATS server, and removes the NATS store. It waits up
// to a few seconds for in-flight requests. Later calls return the first
// call's result.
func (d *Demo) Close() error {
	d.closeOnce.Do(func() { d.closeErr = d.close() })
	return d.closeErr
}

func (d *Demo) close() error {
	var errs []error
	if d.proxy != nil {
		errs = append(errs, d.proxy.stop(closeTimeout))
	}
	if d.console != nil {
		errs = append(errs, d.console.stop())
	}
	for _, n := range d.nodes {
		errs = append(errs, n.stop(closeTimeout))
	}
	if d.nats != nil {
		d.nats.Shutdown()
	}
	if d.dir != "" {
		errs = append(errs, os.RemoveAll(d.dir))
	}
	return errors.Join(errs...)
}
