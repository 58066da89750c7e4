package console

import (
	"context"
	"time"

	"github.com/kilnhq/kiln/cluster"
)

// Nodes lists the web nodes: a *cluster.View does.
type Nodes interface {
	Nodes() []cluster.Node
}

// Servers describes the servers that store the sessions; kiln server
// implements it over its embedded NATS server (server/console.go).
type Servers interface {
	Servers(ctx context.Context) (ServerView, error)
}

// ServerView is the store's servers and streams, as one server sees them.
type ServerView struct {
	Servers []Server
	Streams []Stream
}

// Server is one NATS server of the cluster.
type Server struct {
	Name       string
	MetaLeader bool // leads the JetStream meta group (stream placement)
	Current    bool // caught up with the meta group
	Offline    bool
	Active     time.Duration // since it was last heard from; 0 for this one
}

// Stream is one stream of the session bucket and its replicas.
type Stream struct {
	Name     string
	Leader   string
	Replicas []Replica // the followers; the leader is current by definition
	Messages uint64
	Bytes    uint64
}

// Replica is one follower of a stream.
type Replica struct {
	Name    string
	Current bool   // caught up with the leader
	Offline bool   // not heard from
	Lag     uint64 // operations behind the leader
}
