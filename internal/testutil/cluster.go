package testutil

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// Cluster is n embedded NATS servers with JetStream on loopback, each
// routed to the others, with fixed client and route ports and a store of
// its own, so that a server can be stopped and started again as itself.
// Server i is named "n<i>". Every running server is shut down when the
// test ends.
type Cluster struct {
	t       testing.TB
	opts    []natsengine.ServerOptions
	servers []*natsengine.Server // nil: not running
}

// NewCluster prepares n servers without starting any. configure, if not
// nil, changes server i's options (TLS, MaxStore, a logger) before its
// first start.
func NewCluster(t testing.TB, n int, configure func(i int, o *natsengine.ServerOptions)) *Cluster {
	t.Helper()
	ports := FreePorts(t, 2*n)
	c := &Cluster{t: t, opts: make([]natsengine.ServerOptions, n), servers: make([]*natsengine.Server, n)}
	for i := range c.opts {
		var routes []string
		for j := range n {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[2*j+1]))
			}
		}
		c.opts[i] = natsengine.ServerOptions{
			Port: ports[2*i], StoreDir: t.TempDir(), ServerName: fmt.Sprintf("n%d", i),
			Cluster: &natsengine.ClusterOptions{Name: "kiln-test", Port: ports[2*i+1], Routes: routes},
		}
		if configure != nil {
			configure(i, &c.opts[i])
		}
	}
	t.Cleanup(func() {
		for i := range c.servers {
			c.Stop(i)
		}
	})
	return c
}

// StartCluster starts n servers and waits until each is current with the
// cluster's JetStream meta leader.
func StartCluster(t testing.TB, n int, configure func(i int, o *natsengine.ServerOptions)) *Cluster {
	t.Helper()
	c := NewCluster(t, n, configure)
	for i := range n {
		c.Start(i)
	}
	c.WaitReady(20 * time.Second)
	return c
}

// Start starts server i (again, on its ports and store) and returns it.
func (c *Cluster) Start(i int) *natsengine.Server {
	c.t.Helper()
	if c.servers[i] != nil {
		c.t.Fatalf("server n%d already running", i)
	}
	srv, err := natsengine.StartServer(c.opts[i])
	if err != nil {
		c.t.Fatalf("start server n%d: %v", i, err)
	}
	c.servers[i] = srv
	return srv
}

// Stop shuts server i down gracefully, if it runs.
func (c *Cluster) Stop(i int) {
	if srv := c.servers[i]; srv != nil {
		c.servers[i] = nil
		srv.Shutdown()
	}
}

// StopNamed stops the server named name (a stream leader, say) and
// returns its index.
func (c *Cluster) StopNamed(name string) int {
	c.t.Helper()
	for i, o := range c.opts {
		if o.ServerName == name && c.servers[i] != nil {
			c.Stop(i)
			return i
		}
	}
	c.t.Fatalf("no running server named %q", name)
	return -1
}

// WaitReady waits up to d until every running server is current with the
// JetStream meta leader.
func (c *Cluster) WaitReady(d time.Duration) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for i, srv := range c.servers {
		if srv == nil {
			continue
		}
		if err := srv.WaitJetStreamReady(ctx); err != nil {
			c.t.Fatalf("server n%d: %v", i, err)
		}
	}
}

// Server is server i, nil if it does not run.
func (c *Cluster) Server(i int) *natsengine.Server { return c.servers[i] }

// Servers are the running servers.
func (c *Cluster) Servers() []*natsengine.Server {
	var out []*natsengine.Server
	for _, s := range c.servers {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// Name is server i's name.
func (c *Cluster) Name(i int) string { return c.opts[i].ServerName }

// URL is server i's client URL, whether it runs or not.
func (c *Cluster) URL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port)
}

// URLs lists every server's client URL, comma-separated, as
// natsengine.Options.URL takes them.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.opts))
	for i := range c.opts {
		urls[i] = c.URL(i)
	}
	return strings.Join(urls, ",")
}
