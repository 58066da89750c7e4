package channel

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SendFunc stores one message (JetStream PublishMsg).
type SendFunc = func(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error)

// WrapSend makes h store through wrap(the real send), to inject faults.
// Set it before publishing.
func WrapSend(h *Hub, wrap func(SendFunc) SendFunc) { h.pub.send = wrap(h.pub.send) }

// DropLive makes h's fan-out lose the live publications drop selects.
// Set it before subscribing.
func DropLive(h *Hub, drop func(Publication) bool) { h.fan.drop = drop }

// Patterns is how many core NATS subscriptions h's fan-out holds.
func Patterns(h *Hub) int { return h.fan.patterns() }

// StreamName is h's channel stream.
func StreamName(h *Hub) string { return h.subj.stream }
