// Package kiln clusters the HTTP sessions of a Go web application over
// many instances of it: any instance serves any session, and an instance
// can die without its users noticing.
//
// # Usage
//
// Every instance creates a Manager on the same engine (NATS JetStream in
// production, see engine/natsengine) and wraps its handler:
//
//	eng, err := natsengine.Open(ctx, natsengine.Options{URL: "nats://127.0.0.1:4222"})
//	...
//	cfg := kiln.DefaultConfig()
//	cfg.Node = "web1"
//	sessions, err := kiln.New(eng, cfg)
//	...
//	defer sessions.Close() // before eng.Close
//	http.ListenAndServe(":8080", sessions.Handler(mux))
//
// (the whole program, with an embedded server and the Close calls in
// order, is Example_program) and handlers use the request's session:
//
//	s := kiln.FromContext(r.Context())
//	cart, ok, err := kiln.Get[map[string]int](s, "cart")
//	cart["apple"]++ // saved without Put: kiln detects the change
//	theme := kiln.GetOr(s, "theme", "light")
//	flash, _, err := kiln.Pop[string](s, "flash")
//
// The ID travels in a cookie by default; Config.IDTransport puts it in a
// header (X-Session-Token) for API and mobile clients, or accepts both
// (docs/http.md). A stored value whose Go type changed so that it no
// longer decodes fails that attribute alone with ErrDecode;
// Config.OnDecodeError can migrate or drop it (docs/types.md). chi, gin
// and echo: examples/frameworks.
//
// # Recipes
//
// The package examples are runnable recipes: Example_login (log in with
// ID renewal, log out), Example_flash (flash messages), Example_csrf (a
// CSRF token in the session), Example_rememberMe (a persistent cookie for
// one session) and Example_preferences (a value edited in place).
//
// # Consistency
//
// A session is created lazily: stored, and its cookie set, only once a
// handler writes to it. With session leases (the default) one node at a
// time serves a session: requests on it are serialised cluster-wide and the
// holder serves reads from memory (docs/leases.md). Changes are saved when
// the response starts, before its first byte, all or nothing, and the
// session is then released for the user's other requests; a change after
// that fails with ErrResponseStarted (docs/http.md). A save carries only
// the attributes whose encoded bytes changed and commits with a
// compare-and-set on the session's revision: a stale writer (a paused
// node, or a concurrent request with Config.NoLeases) fails with
// ErrConcurrentUpdate (409) rather than overwriting newer data, and a
// failed save gives the client an error (503 if the engine is
// unreachable), never a success.
//
// # Load balancers
//
// With a sticky balancer keyed on the ID's ".<node>" suffix every request
// lands on its session's holder. Behind a round-robin one, set
// Config.RelayURL: a node forwards a request on a session another live
// node holds to that node over HTTP instead of moving the lease, and
// serves it itself if the holder is gone (docs/leases.md "Relaying").
//
// Config.OnDestroyed runs once in the cluster for every session that ends,
// with its final attributes; Manager.InvalidatePrincipal logs a user out
// everywhere (docs/lifecycle.md).
//
// Idle timeout and lifetime are checked by every node on every load with
// its clock, so an expired session is never served. Invalidate and RenewID
// tombstone the old ID until its original deadline: late writes to it fail
// and it is never reused.
//
// # Storage
//
// Attribute values are CBOR (self-describing, deterministic); the engine
// keys are derived from a SHA-256 of the session ID, so a dump of the
// engine holds no usable session ID. docs/storage.md describes every record.
package kiln
