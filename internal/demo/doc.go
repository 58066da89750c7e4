// Package demo runs a whole kiln cluster on one machine: one embedded NATS
// JetStream server, N nodes of the sample cart app (internal/cartapp),
// each with its own kiln Manager, its own engine connection and its own
// HTTP server, and a reverse proxy in front that spreads requests over the
// nodes. It is what `kiln demo` runs, and what tests start in-process.
//
// # Usage
//
//	d, err := demo.Start(ctx, demo.Options{Addr: "127.0.0.1:8080", Nodes: 3})
//	if err != nil { ... }
//	defer d.Close()
//	fmt.Println("open", d.ProxyURL())
//
// # Routing
//
// The proxy sends each request to the next node in turn (round robin), so
// consecutive clicks land on different nodes (X-Kiln-Received-By) while the
// session stays the same. The nodes relay (kiln.Config.RelayURL): a node
// that receives a request on a session another node holds forwards it
// there, so the holder serves it (X-Kiln-Node) and the lease stays put; if
// the holder is down, the receiving node serves it itself. With Options.Sticky it routes by the session ID's node suffix
// (the part of the kiln_session cookie after the last '.'), as a sticky
// load balancer would; requests without a known suffix go round robin.
// If a node does not accept the connection, the proxy tries the next one.
package demo
