package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/kilnhq/kiln/console"
	"github.com/kilnhq/kiln/engine/natsengine"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// ConsolePath is where the HTTP listener serves the console.
const ConsolePath = "/console/"

// consoleSlot serves the console (package console) at ConsolePath once
// the session buckets are open, and 503 until then. The console runs on
// an Admin Manager (kiln.Config.Admin: it takes no expiry work from the
// web nodes) on the server's own client, and shows the web nodes of the
// cluster.View /metrics runs (serverMetrics): one View per server.
//
// There is a console only if auth.users has a user with role admin or
// viewer and a password: with none it is not served at all (404), on
// loopback or beyond, and the start log says so.
type consoleSlot struct {
	cfg   *Config
	log   *slog.Logger
	srv   *natsengine.Server
	users []console.User
	h     atomic.Pointer[console.Console] // nil until start

	// Set by start and read by stop, both on Run's goroutine.
	admin *adminSessions
}

// newConsoleSlot returns the console's slot, or nil if no user may log in.
func newConsoleSlot(c *Config, log *slog.Logger, srv *natsengine.Server) (*consoleSlot, error) {
	users, err := c.consoleUsers()
	if err != nil || len(users) == 0 {
		return nil, err
	}
	return &consoleSlot{cfg: c, log: log, srv: srv, users: users}, nil
}

// consoleUsers are auth.users with role admin or viewer and a password;
// node users (and NKey users, who have no password) may not log in.
func (c *Config) consoleUsers() ([]console.User, error) {
	var out []console.User
	for i, u := range c.Auth.Users {
		if (u.Role != RoleAdmin && u.Role != RoleViewer) || u.NKey != "" {
			continue
		}
		pw, err := c.resolve(c.userSecret(i))
		if err != nil {
			return nil, err
		}
		out = append(out, console.User{Name: u.User, Password: pw, Role: u.Role})
	}
	return out, nil
}

func (s *consoleSlot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.h.Load()
	if h == nil {
		http.Error(w, "console: starting (the session buckets are not open yet)", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// start runs the console on eng, showing the web nodes of nodes.
func (s *consoleSlot) start(eng *natsengine.Engine, nodes console.Nodes) error {
	admin, err := newAdminSessions(eng, consoleNode(s.cfg.Server.Name), s.log)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	c, err := console.New(console.Options{Sessions: admin, Nodes: nodes, Users: s.users, Logger: s.log,
		Servers: natsServers{srv: s.srv, bucket: s.cfg.Sessions.Bucket}, Prefix: strings.TrimSuffix(ConsolePath, "/")})
	if err != nil {
		admin.Close()
		return err
	}
	s.admin = admin
	s.h.Store(c)
	return nil
}

// stop stops the console and its Manager (which hands over any lease it
// holds); the View is serverMetrics'.
func (s *consoleSlot) stop() {
	if s == nil {
		return
	}
	if c := s.h.Swap(nil); c != nil {
		c.Close()
	}
	if s.admin != nil {
		s.admin.Close()
	}
}

// consoleNode is the console's node name (its liveness record): "console"
// and the server's name, in the characters a node name may have.
func consoleNode(server string) string {
	name := []byte("console")
	if server != "" {
		name = append(name, '-')
	}
	for _, r := range []byte(server) {
		ok := r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			r = '_'
		}
		name = append(name, r)
	}
	return string(name[:min(len(name), 64)])
}

// NATSServers describes srv's JetStream cluster and bucket's streams to a
// console (console.Options.Servers), for servers started outside kiln
// server (kiln demo).
func NATSServers(srv *natsengine.Server, bucket string) console.Servers {
	return natsServers{srv: srv, bucket: bucket}
}

// natsServers describes the embedded NATS server's JetStream cluster and
// the session bucket's streams, as this server sees them.
type natsServers struct {
	srv    *natsengine.Server
	bucket string
}

func (n natsServers) Servers(context.Context) (console.ServerView, error) {
	ns := n.srv.NATS()
	info, err := ns.Jsz(&natsserver.JSzOptions{Accounts: true, Streams: true})
	if err != nil {
		return console.ServerView{}, fmt.Errorf("jetstream info: %w", err)
	}
	if info.Disabled {
		return console.ServerView{}, errors.New("jetstream is not enabled")
	}
	v := console.ServerView{Servers: metaServers(ns.Name(), info.Meta)}
	for _, acc := range info.AccountDetails {
		for _, st := range acc.Streams {
			if n.ours(st.Name) {
				v.Streams = append(v.Streams, stream(st, ns.Name()))
			}
		}
	}
	return v, nil
}

// ours reports whether stream is one of the session bucket's.
func (n natsServers) ours(stream string) bool {
	b, ok := strings.CutPrefix(stream, "KV_")
	return ok && (b == n.bucket || strings.HasPrefix(b, n.bucket+"-"))
}

// metaServers lists this server and its meta group peers.
func metaServers(self string, meta *natsserver.MetaClusterInfo) []console.Server {
	if meta == nil {
		return []console.Server{{Name: self, MetaLeader: true, Current: true}}
	}
	out := []console.Server{{Name: self, MetaLeader: meta.Leader == self, Current: true}}
	seen := map[string]bool{self: true}
	for _, p := range meta.Replicas {
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, console.Server{Name: p.Name, MetaLeader: meta.Leader == p.Name, Current: p.Current, Offline: p.Offline, Active: p.Active})
		}
	}
	if meta.Leader != "" && !seen[meta.Leader] {
		out = append(out, console.Server{Name: meta.Leader, MetaLeader: true, Current: true})
	}
	return out
}

func stream(st natsserver.StreamDetail, self string) console.Stream {
	out := console.Stream{Name: st.Name, Messages: st.State.Msgs, Bytes: st.State.Bytes, Leader: self}
	if cl := st.Cluster; cl != nil {
		out.Leader = cl.Leader
		for _, p := range cl.Replicas {
			out.Replicas = append(out.Replicas, console.Replica{Name: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag})
		}
	}
	return out
}

// startConsole starts the console, if there is one (the start line says
// where it is, or why there is none): a console that does not start
// leaves the server running, and its pages answer 503. Its web nodes are
// those of /metrics' cluster.View (r.metrics): one View, not two.
func (r *running) startConsole(_ context.Context, eng *natsengine.Engine) {
	if r.console == nil || r.http == nil {
		return
	}
	if err := r.console.start(eng, r.metrics); err != nil {
		r.log.Error("kiln server: console not started", "err", err)
		return
	}
	if !isLoopback(r.cfg.HTTP.Listen) {
		r.log.Warn("kiln server: the console listens beyond loopback over plain HTTP: passwords and its cookie cross the network in clear; serve it through a TLS proxy")
	}
}

// consoleAttr is the start line's "console": its URL, or why there is none.
func (r *running) consoleAttr() string {
	switch {
	case r.console == nil:
		return "off (auth.users has no user with role admin or viewer and a password)"
	case r.http == nil:
		return "off (http.listen is empty)"
	}
	return "http://" + r.http.addr() + ConsolePath
}
