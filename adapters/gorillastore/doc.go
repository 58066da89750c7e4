// Package gorillastore is a [gorilla/sessions] store (sessions.Store)
// backed by a kiln engine: a kiln server (NATS JetStream, replicated and
// persistent), any NATS server with JetStream through natsengine, or
// memengine in tests.
//
// It is a drop-in for an app that already runs gorilla/sessions with a
// server-side store such as boj/redistore, and follows that store's
// conventions: the cookie carries only the session ID, encoded with
// securecookie when New is given key pairs (plain otherwise); Options.MaxAge
// is the stored session's TTL (0: DefaultMaxAge, with a browser-session
// cookie); MaxAge < 0 deletes the session and its cookie on Save. It
// does not use kiln's session Manager: the app still loads and saves
// whole sessions, so the guarantees that need kiln's middleware (no lost
// updates, the near cache, deltas, events) do not apply. See
// docs/migration.md in the kiln repository.
//
// # Usage
//
//	eng, err := natsengine.Open(ctx, natsengine.Options{URL: "nats://127.0.0.1:4222"})
//	...
//	store := gorillastore.New(eng, []byte("32-byte-long-auth-key-0123456789"))
//	session, err := store.Get(r, "session-name")
//
// # Storage
//
// A session is one key, "<KeyPrefix>.<SHA-256 of the ID, base64url>",
// whose value is the Serializer's encoding of session.Values, with the
// engine's TTL. Neither key nor value holds the ID, so a dump of the store
// yields no usable cookie.
//
// # Consistency
//
// A new session's first Save is conditional on its key being new (a
// compare-and-set). Later Saves overwrite the stored session, so of two
// concurrent requests that change one session the later Save wins,
// unless CheckConflicts is set: then a Save fails with ErrConflict when
// the session was saved by another request since this request loaded
// it, which turns the lost update into an error the app can handle.
//
// # Moving on to kiln's middleware
//
// [Migration] reads through from the old gorilla store while an app
// moves to kiln's middleware, so that nobody is logged out by the switch.
//
// # Errors
//
// A cookie whose session is gone (expired, deleted, never stored) gives
// a new session, which Save stores under a fresh ID, never the one the
// cookie presented. An engine that cannot be reached makes Get return an
// error wrapping engine.ErrUnavailable along with a new session: check
// it, or the user carries on with an empty session. A Save that fails
// that way may or may not have been applied.
//
// [gorilla/sessions]: https://github.com/gorilla/sessions
package gorillastore
