// Package console is kiln's operator console: a web UI over a kiln
// cluster, served by kiln server at /console/ on its HTTP listener and
// mountable in an app as an http.Handler. docs/console.md has the pages,
// the roles and the security model.
//
// # Usage
//
// In an app, on a Manager made with Config.Admin (it takes no expiry
// work, so the app's OnDestroyed listeners see every destroy event):
//
//	cfg := kiln.DefaultConfig()
//	cfg.Node, cfg.Admin = "console", true
//	admin, _ := kiln.New(eng, cfg)
//	view, _ := cluster.Watch(ctx, eng, cluster.Options{})
//	c, err := console.New(console.Options{
//		Sessions: admin, Nodes: view,
//		Users: []console.User{{Name: "ops", Password: hash, Role: console.RoleAdmin}},
//	})
//	defer c.Close()
//	mux.Handle("/console/", c) // Options.Prefix defaults to "/console"
//
// # Pages
//
// Cluster (servers, streams and their replicas, web nodes), sessions (the
// live count, a principal's sessions, a page of all of them), one
// session (its attributes decoded to JSON, its holder, its times; the
// actions invalidate and log out everywhere) and charts over the last
// hour (an in-memory ring of samples; engine latency and expiry lag are
// quantiles estimated from the histograms in the nodes' reports). Sessions are named by their store
// key or its fingerprint, never by their ID.
//
// # Security
//
// Every page needs a login: a User with RoleAdmin, or RoleViewer, which
// sees everything and may not act (403, and no buttons). Logins are held
// in this process's memory under an HttpOnly, SameSite=Strict cookie
// (Secure on TLS or with Options.Secure); login attempts are rate-limited
// per remote address and overall; every POST needs the login's CSRF
// token and, from a browser, a same-origin request. Pages are served with
// a strict Content-Security-Policy: no script runs, charts are SVG drawn
// on the server.
package console
