package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Errors of the package. Err of a Subscription is one of ErrSlowConsumer,
// ErrLoggedOut, ErrResubscribe, ErrClosed or ErrCannotRecover.
var (
	// ErrBadChannel: a channel name or pattern is malformed (see Names in
	// the package doc), or a wildcard was given where a channel is needed.
	ErrBadChannel = errors.New("channel: bad channel name")
	// ErrTooLarge: the data exceeds Limits.MaxMessageBytes.
	ErrTooLarge = errors.New("channel: message too large")
	// ErrForbidden: the Authorizer (or the service / meta channel rule)
	// refused the subscribe or publish.
	ErrForbidden = errors.New("channel: forbidden")
	// ErrLimit: a per-connection limit (subscriptions, publish rate) is
	// reached.
	ErrLimit = errors.New("channel: limit reached")
	// ErrMaybePublished: the engine did not acknowledge the publish in
	// time; it may or may not have been stored (and delivered). Retry with
	// the same WithID: a retry within Options.DedupWindow is stored once.
	// It wraps engine.ErrUnavailable.
	ErrMaybePublished = errors.New("channel: publish not acknowledged, may or may not have been published")
	// ErrCannotRecover: the publications after a Position are no longer
	// all in history (they fell out by count or age, or the epoch
	// changed). The caller must tell its client, which reloads its state.
	ErrCannotRecover = errors.New("channel: cannot recover from position")
	// ErrSlowConsumer: the subscriber did not keep up (its buffer of
	// Options.ClientBuffer publications was full) and was dropped.
	ErrSlowConsumer = errors.New("channel: slow consumer dropped")
	// ErrLoggedOut: the subscriber's principal or session was logged out
	// (on any node).
	ErrLoggedOut = errors.New("channel: logged out")
	// ErrResubscribe: the Hub cannot tell whether it missed a logout (its
	// connection was down longer than the logout channel's history
	// reaches), so it ended every stream. Subscribe again, from the last
	// position: the client's session is checked again then.
	ErrResubscribe = errors.New("channel: logouts may have been missed while disconnected; resubscribe")
	// ErrClosed: the Subscription or the Hub was closed.
	ErrClosed = errors.New("channel: closed")
)

// Options configure a Hub. Node is required; every other field has the
// default its comment gives.
type Options struct {
	// Node is this web node's name (as in X-Kiln-Node). Required.
	Node string
	// Bucket is the kiln session bucket (natsengine.Options.Bucket) the
	// channels belong to: the stream is "KILNCH_<Bucket>", the subjects
	// "kilnch.<Bucket>.>". Default "kiln".
	Bucket string
	// Replicas is the replica count of the channel stream and presence
	// bucket a Hub creates. 0 (default): the session bucket's count, or 1
	// if it has none.
	Replicas int
	// History is how many publications each channel keeps; default 100.
	History int
	// HistoryAge is how long a publication stays in history; default 10m.
	HistoryAge time.Duration
	// DedupWindow is how long a publish ID is remembered: a publish
	// retried with the same WithID within it is stored and delivered
	// once. Default 2m.
	DedupWindow time.Duration
	// ClientBuffer is how many publications a subscriber may have
	// undelivered before it is dropped with ErrSlowConsumer; default 256.
	ClientBuffer int
	// PresenceTTL is how long a member of a node that stopped refreshing
	// (it died) stays in Presence; default 30s. Refreshed every TTL/3.
	PresenceTTL time.Duration
	// Limits are per-connection limits.
	Limits Limits
	// Authorize decides who may subscribe and publish where. nil denies
	// every client subscribe and publish (server-side Publish and Handle
	// are never checked).
	Authorize Authorizer
	// Logger gets the Hub's diagnostics; default slog.Default().
	Logger *slog.Logger
	// OpTimeout bounds each engine call whose ctx has no deadline;
	// default 5s.
	OpTimeout time.Duration
}

// Limits bound what one connection (Client.ConnID) may do.
type Limits struct {
	// MaxSubscriptions per connection; default 64.
	MaxSubscriptions int
	// MaxMessageBytes is the largest publication; default 64 KiB.
	MaxMessageBytes int
	// PublishRate is publishes per second per connection (PublishAs);
	// default 20, with bursts of PublishBurst (default 40).
	PublishRate  float64
	PublishBurst int
}

// Client is who subscribes or publishes, as the transport read it from
// the kiln session. Principal "" is an anonymous client.
type Client struct {
	Principal string
	// SessionKey is the session's fingerprint (kiln.Fingerprint of its
	// ID, as DestroyEvent.Fingerprint carries it), never the raw ID.
	SessionKey string
	// Node is the node the client is connected to (this Hub's, for
	// transports).
	Node string
	// ConnID identifies the connection; limits and presence are per
	// connection. Required for Subscribe and PublishAs.
	ConnID string
}

// Position is where a subscriber is in a channel (or pattern): the last
// Offset it received, in the stream Epoch.
type Position struct {
	Epoch  string
	Offset uint64
}

// String is "epoch:offset", what ParsePosition reads (an SSE event id).
func (p Position) String() string { return p.Epoch + ":" + strconv.FormatUint(p.Offset, 10) }

// ParsePosition parses "epoch:offset".
func ParsePosition(s string) (Position, error) {
	epoch, off, ok := strings.Cut(s, ":")
	if !ok || epoch == "" {
		return Position{}, fmt.Errorf("channel: position %q: want epoch:offset", s)
	}
	n, err := strconv.ParseUint(off, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("channel: position %q: offset: %w", s, err)
	}
	return Position{Epoch: epoch, Offset: n}, nil
}

// Publication is one message on a channel.
//
// Offset is the stream sequence: strictly increasing per channel (and
// across channels), never reused within an Epoch, but not contiguous —
// other channels' publications take the numbers between. Prev is the
// Offset of the channel's previous publication (0: none was left in
// history when it was published), so a client holding Offset o of a
// channel knows it missed something when the next one's Prev is not o.
type Publication struct {
	Channel string
	Offset  uint64
	Prev    uint64
	Epoch   string
	ID      string // the publish ID (WithID, or generated)
	Data    []byte
	Time    time.Time
	From    string // principal of PublishAs; "" for the server
}

// Position is where a subscriber is after receiving p.
func (p Publication) Position() Position { return Position{Epoch: p.Epoch, Offset: p.Offset} }

// Member is one connection subscribed to a channel.
type Member struct {
	Principal string    `json:"principal"`
	Node      string    `json:"node"`
	ConnID    string    `json:"conn"`
	Since     time.Time `json:"since"`
}

// PresenceEvent is the data of a publication on "/meta/presence/<ch>":
// Action "join" or "leave".
type PresenceEvent struct {
	Action  string `json:"action"`
	Channel string `json:"channel"`
	Member  Member `json:"member"`
}

// Authorizer decides client subscribes and publishes. ch is a channel
// for CanPublish, a channel or pattern for CanSubscribe. Deny by default:
// return false for anything without a rule.
type Authorizer interface {
	CanSubscribe(c Client, ch string) bool
	CanPublish(c Client, ch string) bool
}

// PublishOption changes one Publish.
type PublishOption func(*publishConfig)

type publishConfig struct {
	id string
}

// WithID makes a publish idempotent: publishes with the same id within
// Options.DedupWindow are stored and delivered once. At most 128 bytes.
func WithID(id string) PublishOption { return func(c *publishConfig) { c.id = id } }

// Handler receives publications to service channels ("/service/**").
// An error is returned to the publisher.
type Handler func(ctx context.Context, p Publication) error
