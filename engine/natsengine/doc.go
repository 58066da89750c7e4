// Package natsengine is kiln's engine on NATS JetStream (server 2.12 or
// later), for any NATS server or cluster with JetStream, and a helper that
// starts such a server inside the process.
//
// # Usage
//
//	srv, err := natsengine.StartServer(natsengine.ServerOptions{StoreDir: "/var/lib/kiln"})
//	...
//	defer srv.Shutdown()
//	eng, err := natsengine.Open(ctx, natsengine.Options{InProcess: srv})
//	...
//	defer eng.Close()
//
// Other processes connect with Options.URL. Tests start a server in one
// line with [StartTestServer].
//
// A replicated deployment is three servers, each with a unique, stable
// ServerName and ServerOptions.Cluster listing the other two's route
// URLs; once [Server.WaitJetStreamReady] returns on one of them (a meta
// leader is elected, which takes two of the three), a client with
// Replicas 3 can create the bucket, which takes all three servers up
// (a 3-replica stream is placed on three). [Server.Healthz] answers a
// readiness probe.
//
// # Who creates the bucket
//
// Web nodes should not decide how many copies the sessions get. Open with
// Options.Replicas 0 (the default) binds to the bucket as it exists,
// whatever its replica count. It creates a missing bucket, with one
// replica, only on a server outside a cluster (the embedded engine, the
// demo, a single `kiln server` or nats-server); on a server of a cluster
// it fails with [ErrNoBucket], wrapped with engine.ErrUnavailable, until
// `kiln server` (whose client opens with Replicas 3 and RepairReplicas)
// has created it: a web node started first retries, as kiln's examples
// do. A client that names Replicas creates a missing bucket with that
// count, and fails with [ErrLayout] on an existing bucket with another
// count, unless RepairReplicas, which updates the bucket's streams to
// the count (a warning in the log says what it found).
//
// # What is stored where
//
// Keys live in a JetStream KV bucket (stream KV_<bucket>, subjects
// $KV.<bucket>.<key>, one message kept per key): a key's revision is the
// stream sequence of its latest message. Open creates the bucket, or
// upgrades an existing one, with per-message TTLs (AllowMsgTTL), expiry
// markers (SubjectDeleteMarkerTTL, Options.MarkerTTL), atomic batches
// (AllowAtomicPublish) and republishing of every stored message to
// kilnwatch.<bucket>.<key>, which Watch subscribes to, and records the
// shard count in the stream's metadata (kiln_shards). Messaging uses core
// NATS subjects kiln.<bucket>.<subject>, so apps with distinct buckets do
// not see each other's messages. OnExpire groups are durable consumers
// named kiln_expire_<group>_<hash>.
//
// # Sharding
//
// One stream has one leader, which orders and stores every write: that
// caps a bucket's write rate. Options.Shards N > 1 spreads the keys over N
// buckets "<bucket>-0" .. "<bucket>-<N-1>", each its own stream with its
// own leader (in a cluster, the leaders spread over the servers). A key
// lives in shard FNV-1a-32(token) mod N, where token is the key's second
// dot-separated token, or its only token: every key kiln writes for one
// session (s.<k>.m, s.<k>.a.<name>, t.<k>) has the session's hash as its
// second token, so a session's records share a shard and a request's
// changes still commit in one atomic batch. A Commit whose keys fall in
// different shards is refused with engine.ErrInvalid ("ops span shards").
// Revisions are per shard (a shard's stream sequence): they increase per
// key, as the engine contract asks, but do not order keys of different
// shards.
//
// Every shard republishes to the same kilnwatch.<bucket>. prefix, so a
// Watch is still one subscription whose callback runs in one goroutine;
// a key's changes come from one shard, in order. OnExpire runs the
// group's consumer on every shard. Messaging does not involve the shards.
// The first shard's stream records N (metadata kiln_shards); Open with
// Shards 0 reads it, so web nodes need not be told, and Open with a
// count that contradicts it fails with a [ShardCountError] (an
// ErrLayout). The count of an existing bucket cannot change: that would
// move keys. Two first openers with different counts cannot split the
// layout: each checks kiln_shards on an existing first shard, and the
// other layout's first stream after creating its own, so the later one
// fails with ErrLayout.
//
// # Listing
//
// The engine implements engine.Lister. [Engine.List] is a scan: on every
// shard it reads the last message of each matching key through a
// short-lived, headers-only consumer, whatever the limit, so it belongs
// to background work (indexes, enumeration), not to the request path.
//
// # Reads
//
// [Engine.Get] reads the key's last message (a direct get on a
// one-replica bucket, from the stream's leader otherwise), with
// Options.ReadConns set, over one of that many connections of its own, in
// turn (by default on the engine's one connection): the server answers
// a direct get in the read loop of the connection it came on, and a get
// of a record whose message block the server has not loaded recently
// loads the whole block first (milliseconds; docs/scaling.md, "Cold
// records on the server"), which would hold up every write, watch and
// message sent after it on a shared connection. A get sent after a
// write was acknowledged sees it, whichever connection each took.
//
// # Writes
//
// Every write is a raw JetStream publish to the key's subject, never a KV
// Put: a KV Put or Update after a TTL'd Create makes the key permanent. The
// TTL travels in the Nats-TTL header, the revision condition in
// Nats-Expected-Last-Subject-Sequence (0 for IfNew), so one publish both
// compare-and-sets and slides the TTL. A delete is an empty message with
// KV-Operation: DEL, or KV-Operation: PURGE when it has a TTL: the server
// writes an expiry marker when a DEL marker's TTL runs out, which would be
// reported as the key expiring, but not for a PURGE marker.
//
// A value's TTL is logical: the Kiln-TTL header carries it in
// milliseconds, and Get, List and Commit judge it. The server's own TTL
// (Nats-TTL, whole seconds) runs 3s longer, so the server removes the
// value, and reports it expired, 3 to 4 seconds after its logical
// deadline. The margin keeps every write away from the server's expiry of
// the value it replaces: on a replicated stream nats-server purges a
// write acknowledged at that moment (docs/upstream/nats-expiry-marker.md).
// Each shard remembers the deadline of the revisions this client wrote or
// read; a Commit conditioned on such a revision once its TTL ran out is
// refused with engine.ErrConflict before it reaches the server. (A
// condition on a revision this client never saw is decided by the server
// alone: within the margin it still succeeds.) A delete with a TTL (a
// PURGE marker) gets the server TTL as it is, rounded up to whole seconds
// of at least 1s.
//
// Expiry is judged on the server's clock only: the server's timestamp of
// the value against an estimate of the server's current time, taken from
// the "ts" of the shard's stream info (answered by its leader) at Open,
// every 10s and after a reconnect, and run forward with the elapsed time
// of Options.Clock. A client whose clock is off by any amount judges
// expiry as the server does, at most one round trip late.
//
// A Commit of several ops is one JetStream atomic batch (headers
// Nats-Batch-Id, Nats-Batch-Sequence, Nats-Batch-Commit on the last). The
// server checks every condition when the commit message arrives and then
// stores the whole batch, or nothing; it answers only the commit, with the
// sequence of the batch's last message and the batch's size, and the
// batch's messages have consecutive sequences. A batch holds at most 1000
// messages (the server's default limit) and a server takes at most 50
// unfinished batches per stream at a time.
//
// A batch on a single-replica file-stored bucket is expensive: the server
// stages it in a fresh file store that it syncs to disk, so it costs about
// 5–10 ms whatever its size, against about 50 µs for a single write
// (in-process, 2 cores). On memory storage, and on replicated streams,
// which stage in memory, a batch of 2 costs about 110 µs, of 5 about
// 160 µs, of 50 about 1 ms. Keep multi-key commits off the hot path of a
// single-server file store.
//
// # Expiry
//
// When a key's server TTL runs out (its TTL plus the 3s margin) the
// server removes the value and writes a marker message on the key's
// subject (header Nats-Marker-Reason: MaxAge), which lives
// Options.MarkerTTL. Watch reports it as EventExpire; OnExpire
// hands it to one subscriber of the group through the group's durable
// consumer and acks it once the handler returned nil. Deletes and
// overwrites replace the value before it expires, so they are not
// reported. An expiry waits for a subscriber only while its marker lives,
// and is lost if the key is written again before the group reads it.
//
// # Durability
//
// A write is acknowledged once the stream's leader has stored it and, at
// Replicas 3, once a majority of the stream's servers (the leader and at
// least one follower) have it. What it survives depends on the server:
//
//   - default file store, one server: a crash of the process or the
//     server, not loss of power or of the machine: the store fsyncs every
//     2 minutes, so the last writes may be lost (Jepsen found such losses
//     in NATS 2.12.1).
//   - SyncAlways (ServerOptions, or sync_interval: always): also power
//     loss, at about 10x the write cost.
//   - Replicas 3 on a 3-server cluster: also the loss of any one server,
//     with its disk: an acknowledged write is on two of the three, and
//     the new leader, elected among the survivors, has every write a
//     majority took. Losing two servers at once stops writes (no
//     majority) and, without SyncAlways, a simultaneous power loss of two
//     servers can lose the writes of the last fsync interval.
//   - Memory storage: nothing beyond the server process (at Replicas 3,
//     beyond the loss of two of the three processes).
//
// Whatever the setting, an acknowledged write is not undone by the
// server's expiry of the value it replaced (see Writes: the server's TTL
// runs 3s past the logical one), and a write refused because the bucket
// is full (Options.MaxBytes) fails with engine.ErrUnavailable. Each shard
// keeps, for the deadline check, one entry per key with a TTL that this
// client wrote or read (a 128-bit hash of the key, its revision and
// deadline: 50 to 70 bytes of heap), until about 5s past its deadline.
//
// When a stream leader's server goes away, the survivors elect a new
// leader; in tests on loopback writes resumed 60 ms to 1.1 s after the
// leader's shutdown (the longer figure is a write that was in flight to
// the dead server waiting out its own timeout; a client connected to the
// dead server reconnects to another URL of Options.URL). Calls in that
// window fail with engine.ErrUnavailable: the caller retries, as kiln's
// session layer answers 503.
//
// # Security
//
// ServerOptions.Token, or User and Password, make clients authenticate;
// Options.Token, User and Password, NKeySeedFile, or CredsFile,
// authenticate a client.
// ServerOptions.TLS makes client connections use TLS, and with
// VerifyClients requires mutual TLS: a client certificate signed by
// CAFile (Options.CertFile, KeyFile, and RootCAs or TLS on the client).
// In-process connections need neither. With a CAFile, a cluster's routes
// use mutual TLS with the same certificate; without, routes are neither
// encrypted nor authenticated, so their port belongs on a private
// network. A server that listens beyond loopback should require one of
// token, password or mutual TLS.
//
// # Outages
//
// The client reconnects forever with backoff. While it is disconnected,
// calls fail at once with engine.ErrUnavailable; a call in flight when the
// connection drops fails at its deadline (Options.OpTimeout if ctx has
// none). Subscriptions and watches resume after a reconnect; changes and
// messages sent meanwhile are missed.
package natsengine
