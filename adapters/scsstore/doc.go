// Package scsstore is an [scs] session store (scs.Store, scs.CtxStore and
// scs.IterableStore) backed by a kiln engine: a kiln server (NATS
// JetStream, replicated and persistent), any NATS server with JetStream
// through natsengine, or memengine in tests.
//
// It is a drop-in for an app that already runs scs: swap redisstore (or
// any other store) for this one and every instance of the app shares
// the sessions in kiln's store. It does not use kiln's session Manager:
// scs keeps loading and saving whole sessions itself, so the guarantees
// that need kiln's middleware (no lost updates between concurrent
// requests, the near cache, deltas, events) do not apply. See
// docs/migration.md in the kiln repository for exactly what an app gets,
// and how to move on to kiln's middleware without logging users out.
//
// # Usage
//
//	eng, err := natsengine.Open(ctx, natsengine.Options{URL: "nats://127.0.0.1:4222"})
//	...
//	sm := scs.New()
//	sm.Store = scsstore.New(eng, scsstore.Options{})
//
// # Storage
//
// A session is one key, "<Prefix>.<SHA-256 of the token, base64url>",
// whose value is scs's encoded session and whose TTL (on the engine's
// clock) runs out at scs's expiry. The key never reveals the token. With
// Options.Iterable the value carries the token too, because All must
// return it: then a dump of the store's values does yield live tokens,
// as it does with redisstore.
//
// # Consistency
//
// Commit overwrites the session unconditionally, as scs's Store contract
// asks: scs gives the store no revision to compare. Two concurrent
// requests of one session each load it, change it and commit it; the
// later commit wins and the other's change is lost. kiln's middleware
// does not lose it.
//
// # Moving on to kiln's middleware
//
// [Migration] reads through from the old scs store while an app moves
// from scs to kiln's middleware, so that nobody is logged out by the
// switch.
//
// # Errors
//
// A token with no live value is found == false with a nil error. An
// engine that cannot be reached is an error (wrapping
// engine.ErrUnavailable), never "not found": scs then answers 500
// instead of handing the user a fresh, empty session. A Commit or Delete
// that fails that way may or may not have been applied.
//
// [scs]: https://github.com/alexedwards/scs
package scsstore
