package server

import (
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
)

// logStart logs the one start-up line: where clients connect, where data
// goes, the HTTP address, the cluster, how clients authenticate and
// whether TLS is on. It never logs a secret.
func (r *running) logStart() {
	c := r.cfg
	attrs := []any{
		"client", "nats://" + r.clientAddr(),
		"data", absPath(c.Server.Data),
		"http", orOff(r.http.addr()),
		"name", r.srv.NATS().Name(),
		"auth", c.authSummary(),
		"tls", onOff(c.tlsOn()),
		"sync", c.Server.Sync,
		"bucket", c.Sessions.Bucket,
		"replicas", c.replicas(),
		"shards", c.Sessions.Shards,
		"console", r.consoleAttr(),
	}
	if cl := c.Cluster; cl != nil {
		attrs = append(attrs, "cluster", cl.Name, "cluster_listen", c.clusterListen(),
			"routes", redactURLs(cl.Routes), "route_tls", onOff(c.routeTLS()))
	}
	r.log.Info("kiln server: started", attrs...)
	for _, w := range c.exposure("nats://" + r.clientAddr()) {
		r.log.Warn("kiln server: " + w)
	}
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// redactURLs hides passwords in route URLs.
func redactURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, s := range urls {
		out[i] = s
		if u, err := url.Parse(s); err == nil {
			out[i] = u.Redacted()
		}
	}
	return out
}

// natsLogger is log for the NATS server's own messages, tagged
// component=nats, with its notices (dozens at start-up) demoted from
// Info to Debug: warnings and errors still show.
func natsLogger(log *slog.Logger) *slog.Logger {
	return slog.New(quietHandler{log.Handler()}).With("component", "nats")
}

// quietHandler logs Info records at Debug.
type quietHandler struct{ h slog.Handler }

func demote(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return q.h.Enabled(ctx, demote(l))
}

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return q.h.Handle(ctx, r)
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{q.h.WithAttrs(as)}
}

func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{q.h.WithGroup(name)}
}
