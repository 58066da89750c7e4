// Package server is the kiln server: an embedded NATS server with
// JetStream that holds the sessions of a cluster of web nodes, configured
// by a YAML file (kiln.example.yaml documents every field), with health
// endpoints, Prometheus metrics, the operator console (package console, at
// /console/ for auth.users with role admin or viewer; docs/console.md) and a
// graceful shutdown. `kiln server` runs it.
//
// # Usage
//
//	cfg, err := server.Load("kiln.yaml") // or server.DefaultConfig()
//	...
//	cfg.Set("server.listen", "0.0.0.0:4222", "flag -addr")
//	if err := cfg.Validate(); err != nil { ... } // names the file, line and field
//	err = server.Run(ctx, cfg, slog.Default(), os.Stdout) // until ctx ends
//
// Web nodes connect with natsengine.Open and the same bucket, auth and TLS.
//
// # Security
//
// The default listens on loopback only. Validate refuses a client port
// beyond loopback without a token, a user or client certificates unless
// auth.allow_unauthenticated is set, and a cluster port beyond loopback
// unless routes use mutual TLS (tls.ca) or cluster.allow_unauthenticated
// is set. Logs name the auth mode, never a secret.
//
// # Durability
//
// See docs/server.md: sync periodic survives a process crash, sync
// always a power loss, and three replicas the loss of any one server.
package server
