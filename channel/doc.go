// Package channel is kiln's clustered pub/sub: a Hub per web node, on the
// same NATS connection as the session engine, through which a
// publication on any node reaches every subscriber on every node, in
// publish order per channel, with bounded history, recovery from a
// position, presence, and authorisation from the kiln session.
//
// docs/channels.md describes the model, the delivery guarantees and the
// limits.
//
// # Usage
//
//	hub, err := channel.NewHub(ctx, eng.Conn(), channel.Options{
//		Node:      "n1",
//		Authorize: channel.Rules{{Pattern: "/chat/**", Subscribe: true, Publish: true, Authenticated: true}},
//	})
//	sub, err := hub.Subscribe(ctx, client, "/chat/room1", nil)
//	for p := range sub.C() { ... }
//	// sub.Err() says why it ended
//	_, err = hub.Publish(ctx, "/chat/room1", []byte("hi"), channel.WithID(id))
//
// # Names
//
// A channel is "/seg/seg/..."; a pattern may use "*" for one whole
// segment and "**" as the last segment for one or more. "/service/**"
// channels are handled by Handle on the publishing node and never
// subscribable; "/meta/presence/<ch>" carries <ch>'s join and leave
// events and is subscribable by whoever may subscribe to <ch>.
//
// # Transports
//
// SSEHandler (Server-Sent Events, resumable by Last-Event-ID),
// WebSocketHandler (JSON frames, origin check, per-connection limits) and
// PublishHandler serve clients; ClientHandler serves the JavaScript client
// (kiln.channels.connect), and Mount serves all four under one prefix.
// They read the client from the kiln session, so they go behind
// Manager.Handler; a stream releases its session when it starts.
package channel
