// Package engine is the contract between kiln's session layer and the
// distributed store underneath it. An engine is a versioned key-value store
// with per-key TTLs, atomic multi-key commits, change and expiry
// notifications, and node-to-node messaging.
//
// Every engine passes the conformance suite in engine/enginetest; the
// behaviour documented here is exactly what that suite checks.
//
// # Keys
//
// A key is one or more tokens separated by dots; a token is made of
// A-Z a-z 0-9 - _ = (the NATS KV key alphabet minus '/'). Keys are at most
// [MaxKeyLen] bytes. A pattern is a key whose tokens may be '*' (exactly one
// token) or, as the last token only, '>' (one or more tokens).
//
// # Revisions
//
// Every write gives the key a new revision, a number greater than every
// revision the key had before. A delete is a write too: it leaves a delete
// marker with its own revision, so a compare-and-set against the revision a
// reader saw fails if the key was deleted (or deleted and written again)
// since.
//
// # Durability
//
// A write is acknowledged once the engine has it; what it survives (process
// crash, power loss, loss of a replica) depends on the engine and its
// settings and is stated in each engine's package documentation. Whatever
// the engine, an acknowledged write is never undone by the engine's own
// expiry of the value it replaced, and a call that fails with
// ErrUnavailable may or may not have been applied: the caller finds out by
// reading, never by assuming either.
//
// # Time
//
// A TTL is measured on the engine's clock, not the caller's: a client
// whose clock is ahead of or behind the store's sees a value live exactly
// as long as one with a correct clock does (to within a round trip). The
// store may keep an expired value a little longer than its TTL (NATS: up
// to 4s), but reads report it gone at its TTL, and a compare-and-set on
// the revision of a value this client saw expire fails with ErrConflict.
package engine

import (
	"context"
	"errors"
	"time"
)

// MaxKeyLen is the longest key an engine must accept.
const MaxKeyLen = 512

// Errors every engine returns, possibly wrapped; test with errors.Is.
var (
	// ErrNotFound: the key has no live value (never written, deleted or expired).
	ErrNotFound = errors.New("engine: key not found")
	// ErrConflict: a commit's revision condition did not hold; nothing was written.
	ErrConflict = errors.New("engine: revision conflict")
	// ErrUnavailable: the engine could not be reached or did not answer in
	// time. The write may or may not have been applied.
	ErrUnavailable = errors.New("engine: unavailable")
	// ErrClosed: the engine (or this client of it) was closed.
	ErrClosed = errors.New("engine: closed")
	// ErrInvalid: a key, pattern, subject or op is malformed; nothing was written.
	ErrInvalid = errors.New("engine: invalid argument")
	// ErrTooLarge: a value or commit exceeds the engine's limits; nothing was written.
	ErrTooLarge = errors.New("engine: too large")
	// ErrNoResponders: a request found nobody subscribed to its subject.
	ErrNoResponders = errors.New("engine: no responders")
)

// Engine is everything kiln needs from a store. Implementations are safe
// for concurrent use.
type Engine interface {
	Store
	Notifier
	Messenger
	// Close releases the client's resources. Subscriptions end; later calls
	// return ErrClosed.
	Close() error
}

// Entry is a key's live value at one revision.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
}

// Op is one write of a Commit.
type Op struct {
	Key string
	// Value is stored unless Delete is set.
	Value []byte
	// Delete removes the key, leaving a delete marker (see package doc).
	Delete bool
	// TTL, if positive, makes the value (or the delete marker) expire TTL
	// after this write. Zero means the write never expires. A later write
	// replaces the TTL with its own: a write without TTL makes the key
	// permanent.
	TTL time.Duration
	// IfRevision, if non-zero, is a condition: the key's latest revision
	// (including a delete marker's) must equal it.
	IfRevision uint64
	// IfNew is a condition: the engine must hold no revision at all for the
	// key, not even a delete marker or expiry marker. Meant for keys derived
	// from fresh random IDs.
	IfNew bool
}

// Store is the versioned key-value part of an engine.
type Store interface {
	// Get returns the key's live value, or ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// Commit applies ops atomically: all of them or, if any condition fails
	// (ErrConflict) or the engine refuses, none. It returns the revision each
	// op gave its key, in order. A key may appear at most once. An engine may
	// cap the number of ops (natsengine: 1000) and returns ErrTooLarge past it.
	Commit(ctx context.Context, ops ...Op) ([]uint64, error)
}

// Lister is an optional capability (test with a type assertion) of engines
// that can enumerate keys; kiln's principal index and session enumeration
// need it. A scan: keep it off the request path.
type Lister interface {
	// List returns up to limit keys matching pattern that have a live value
	// (not deleted, not expired), in ascending byte order, starting after
	// the key after ("" starts at the beginning). Fewer than limit keys
	// means there are no more. limit must be positive.
	List(ctx context.Context, pattern, after string, limit int) ([]string, error)
}

// EventKind says what happened to a key.
type EventKind int

const (
	// EventPut: the key was written.
	EventPut EventKind = iota + 1
	// EventDelete: the key was deleted.
	EventDelete
	// EventExpire: the key's TTL ran out.
	EventExpire
)

func (k EventKind) String() string {
	switch k {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	case EventExpire:
		return "expire"
	}
	return "unknown"
}

// Event is one change seen by a watcher.
type Event struct {
	Kind     EventKind
	Key      string
	Value    []byte // nil unless Kind is EventPut
	Revision uint64
}

// Notifier tells about changes.
type Notifier interface {
	// Watch calls fn, from one goroutine, for every change to a key matching
	// pattern made after Watch returns, in revision order per key. After an
	// outage of the engine it resumes, but changes made during the outage may
	// be missed: treat events as hints and check revisions.
	Watch(ctx context.Context, pattern string, fn func(Event)) (Subscription, error)
	// OnExpire delivers each key matching pattern whose TTL runs out to
	// exactly one subscriber of group at a time, soon after the TTL (NATS:
	// within about 5s). Delivery is at least once: if fn returns an error,
	// or its process dies before fn returns, the key is delivered again (to
	// some subscriber of the group) after a delay. A slow fn does not get
	// its key redelivered while it runs. A key whose fn returned nil is
	// delivered again only after a fault: the acknowledgement was lost (the
	// connection or the store's leader went away between fn's return and
	// the ack), or the subscriber was cut off from the store for longer
	// than the redelivery delay while fn ran. Handlers must therefore be
	// idempotent. Expiries that happen while the group has no subscriber
	// wait for one, once the group has been subscribed to at least once.
	// Keys that were deleted or overwritten are not reported.
	OnExpire(ctx context.Context, group, pattern string, fn func(ctx context.Context, key string) error) (Subscription, error)
}

// Messenger carries messages between nodes. Subjects use the key alphabet
// and dots; the engine scopes them so that apps sharing a server do not see
// each other's messages.
type Messenger interface {
	// Publish sends data to every subscriber of subject (best effort: a
	// message to nobody is dropped).
	Publish(ctx context.Context, subject string, data []byte) error
	// Subscribe calls fn for each message on subject. With a non-empty
	// queue, each message goes to one subscriber of that queue. fn runs in
	// one goroutine per subscription.
	Subscribe(subject, queue string, fn func(*Msg)) (Subscription, error)
	// Request sends data and waits for the first reply, until ctx ends
	// (ErrUnavailable wrapping ctx.Err()) or nobody listens (ErrNoResponders).
	Request(ctx context.Context, subject string, data []byte) ([]byte, error)
}

// Msg is a message received by a subscriber.
type Msg struct {
	Subject string
	Data    []byte
	respond func([]byte) error
}

// NewMsg builds a Msg; respond may be nil when the sender expects no reply.
// For engine implementations.
func NewMsg(subject string, data []byte, respond func([]byte) error) *Msg {
	return &Msg{Subject: subject, Data: data, respond: respond}
}

// Respond answers a Request. It fails if the message was not a request.
func (m *Msg) Respond(data []byte) error {
	if m.respond == nil {
		return errors.New("engine: message expects no reply")
	}
	return m.respond(data)
}

// Subscription is an active Watch, OnExpire or Subscribe.
type Subscription interface {
	// Stop ends the subscription; fn is not called after Stop returns.
	Stop() error
}

// Colocator is an optional capability (test with a type assertion) of
// engines whose Commit refuses ops on keys stored apart, such as
// natsengine with several shards (ErrInvalid: ops span shards). kiln draws
// a renewed session ID until its records can be committed with the old
// ones. An engine without it commits any keys together.
type Colocator interface {
	// Colocated reports whether one Commit can write both a and b.
	Colocated(a, b string) bool
}
