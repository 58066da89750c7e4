package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/cartapp"
	"github.com/kilnhq/kiln/internal/chatapp"
)

// openTimeout bounds a node's first connection to NATS.
const openTimeout = 15 * time.Second

// node is one cart node: what a separate web process would be.
type node struct {
	name string
	url  string
	eng  *natsengine.Engine
	hub  *channel.Hub // the chat's channels, on eng's connection
	m    *kiln.Manager
	web  *webServer

	mu      sync.Mutex // guards state and stopErr
	state   nodeState
	stopErr error // stop's result

}

// nodeState is where a node is in its life.
type nodeState int

const (
	running nodeState = iota
	crashed           // by crash: the Manager is still to be released
	stopped
)

// startNode starts the cart app of node name with an engine connection of
// its own to the NATS server at natsURL, on a random loopback port. With
// relay, the node relays requests on sessions another node holds to that
// node (kiln.Config.RelayURL) instead of moving their leases.
func startNode(ctx context.Context, name, natsURL, bucket string, as login, relay bool, log *slog.Logger) (*node, error) {
	log = log.With("node", name)
	n := &node{name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: node %s: %w", name, err)
	}
	if n.eng, err = openEngine(ctx, name, natsURL, bucket, as, log); err != nil {
		ln.Close()
		return nil, err
	}
	relayURL := ""
	if relay {
		relayURL = "http://" + ln.Addr().String()
	}
	n.hub, err = channel.NewHub(ctx, n.eng.Conn(), channel.Options{Node: name, Bucket: bucket, Authorize: chatapp.Authorizer{}, Logger: log})
	if err == nil {
		n.m, err = newManager(n.eng, n.hub, name, relayURL, log)
	}
	if err != nil {
		ln.Close()
		if n.hub != nil {
			n.hub.Close()
		}
		n.eng.Close()
		return nil, fmt.Errorf("demo: node %s: %w", name, err)
	}
	n.web = serveWeb(ln, apps(n.m, n.hub, name))
	n.url = n.web.url
	log.Info("demo: node started", "url", n.url)
	return n, nil
}

func openEngine(ctx context.Context, name, natsURL, bucket string, as login, log *slog.Logger) (*natsengine.Engine, error) {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{
		URL: natsURL, Bucket: bucket, Name: "kiln-demo-" + name, Logger: log,
		User: as.user, Password: as.password,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: node %s: %w", name, err)
	}
	return eng, nil
}

func newManager(eng *natsengine.Engine, hub *channel.Hub, name, relayURL string, log *slog.Logger) (*kiln.Manager, error) {
	cfg := kiln.DefaultConfig()
	cfg.Node = name
	cfg.RelayURL = relayURL
	cfg.Logger = log
	cfg.ErrorHandler = cartapp.ErrorHandler
	cfg.OnDestroyed = hub.OnDestroyed // a logout closes the user's chat streams on every node
	return kiln.New(eng, cfg)
}

// apps serves the chat under /chat/ and the cart everywhere else, on one
// Manager: one session, one login, for both.
func apps(m *kiln.Manager, hub *channel.Hub, name string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/chat/", http.StripPrefix("/chat", chatapp.Wrap(m, hub, name)))
	mux.Handle("/", cartapp.Wrap(m, name))
	return mux
}

// stop shuts the node's HTTP server down, waiting up to timeout for
// in-flight requests, then closes its Manager (which hands its sessions
// over at once) and its engine connection. After crash it only releases
// what is left, the Manager's goroutines, whose errors about the dead
// connection are expected. Later calls return the first call's result.
func (n *node) stop(timeout time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case running:
		n.stopErr = errors.Join(n.web.stop(timeout), n.m.Close(), n.hub.Close(), n.eng.Close())
	case crashed:
		n.m.Close()
		n.hub.Close()
		n.eng.Close()
	}
	n.state = stopped
	return n.stopErr
}

// crash stops the node as kill -9 would: its HTTP server drops every
// connection and its NATS connection goes, without Manager.Close, so its
// leases are neither handed over nor released; the other nodes take its
// sessions once its liveness record expires. A no-op unless running.
func (n *node) crash() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state != running {
		return nil
	}
	n.state = crashed
	err := n.web.kill()
	n.eng.Conn().Close()
	return err
}
