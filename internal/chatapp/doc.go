// Package chatapp is kiln's sample chat: rooms, who is online, history on
// join, across every node of a cluster. A message posted on one node
// reaches the browsers connected to any other through kiln's channel Hub;
// the user is the principal of their clustered kiln session.
//
// # Usage
//
//	hub, err := channel.NewHub(ctx, eng.Conn(), channel.Options{Node: "n1", Authorize: chatapp.Authorizer{}})
//	...
//	http.ListenAndServe(addr, chatapp.Wrap(m, hub, "n1"))
//
// # Endpoints
//
//	GET  /                               the page (the room in the fragment: /#lobby)
//	POST /api/login                      form user (1..32 printable characters); renews the session ID
//	POST /api/logout                     invalidates the session: its streams close on every node
//	GET  /api/me                         {"node","user"}
//	POST /api/rooms/{room}/messages      form text (1..2000 characters); an Idempotency-Key header
//	                                     makes a retry safe. {"node","channel","offset","epoch","id","position"}
//	GET  /api/rooms/{room}/messages      {"node","messages":[...]}: the room's history, oldest first
//	GET  /api/rooms/{room}/presence      {"node","users":[{"user","nodes","since"}]}
//	GET  /api/rooms/{room}/events        Server-Sent Events: one per message, id "<epoch>:<offset>",
//	                                     resumable with Last-Event-ID (channel.SSEHandler)
//	/channels/...                        kiln's channel transports and JavaScript client (channel.Mount)
//
// Every response carries X-Kiln-Node. Rooms are 1..32 of [a-z0-9-]; a
// room's channel is "/chat/<room>" and its data {"user","text","node"}. Only
// logged-in users read and write; clients cannot publish to a room
// directly (Authorizer): every message goes through POST .../messages,
// which checks it and names its user from the session. The page shows
// text as text (never as HTML).
package chatapp
