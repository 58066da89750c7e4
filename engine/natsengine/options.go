package natsengine

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/clock"
)

// Options configure a client of a NATS server with JetStream. The zero
// value connects to nats://127.0.0.1:4222 and uses the file-stored bucket
// "kiln" as it exists, or creates it with one replica on a server outside
// a cluster.
type Options struct {
	// URL lists the servers to connect to, comma-separated.
	// Default nats.DefaultURL. Ignored when InProcess is set.
	URL string
	// InProcess, if set, connects to this embedded server without a
	// socket: the fastest transport.
	InProcess *Server
	// Bucket names the KV bucket (and, in subjects, the app): letters,
	// digits, '-' and '_'. Default "kiln".
	Bucket string
	// Replicas is the bucket's replication factor: 1, or 3 on a 3-server
	// cluster. Open creates a missing bucket with it, and fails with
	// ErrLayout on an existing bucket with another count (unless
	// RepairReplicas). 0 (the default) takes an existing bucket's count,
	// and creates a missing bucket with 1 replica only on a server outside
	// a cluster; in a cluster Open then fails with ErrNoBucket until kiln
	// server (or a client that names the count) has created it.
	Replicas int
	// RepairReplicas makes Open update an existing bucket whose replica
	// count differs from Replicas to Replicas, logging what it found,
	// instead of failing. For the process that owns the layout (kiln
	// server).
	RepairReplicas bool
	// Memory keeps a bucket Open creates in memory instead of on disk.
	Memory bool
	// MaxBytes caps what the bucket holds, split evenly over its shards:
	// Open creates the bucket with it, or updates an existing bucket's
	// limit to it. Keep it below
	// the server's JetStream limit (ServerOptions.MaxStore): at that limit
	// the server refuses everything, including the expiry markers it must
	// write before it removes an expired value, so a full store never
	// drains; under the bucket's own limit it refuses new keys but still
	// takes markers, deletes and overwrites no larger than the value they
	// replace. 0 leaves an existing bucket's limit, and creates a bucket
	// without one.
	//
	// The limit also sets the size of the stream's message blocks, which
	// the server picks when it creates the stream and again whenever it
	// starts: 8 MiB with a limit of 32 MiB or more per shard, 4 MiB
	// without one (nats-server 2.15). A read or write of a record whose
	// block the server has not loaded since its last garbage collection
	// loads the whole block; docs/scaling.md ("Cold records") has the
	// costs.
	MaxBytes int64
	// Shards spreads the keys over this many buckets (streams), each with
	// its own leader, for write throughput beyond what one stream takes.
	// With 1 the bucket is Bucket itself; with N > 1 it is the buckets
	// "<Bucket>-0" .. "<Bucket>-<N-1>". A key's shard is the FNV-1a hash
	// (32-bit) of its second dot-separated token, modulo N, or of its only
	// token for one-token keys: kiln's keys s.<k>.m, s.<k>.a.<name> and
	// t.<k> of one session share their second token, so they share a shard
	// and commit together. A Commit whose keys fall in different shards
	// fails with engine.ErrInvalid. Open records the count on the first
	// shard's stream (metadata "kiln_shards") when it creates the buckets;
	// 0 means that recorded count, or 1 if Open creates them. A count that
	// contradicts the recorded one is an error.
	Shards int
	// Token, User and Password, NKeySeedFile, or CredsFile authenticate
	// the client. NKeySeedFile is a file holding an NKey user seed
	// ("SU..."), whose public key the server lists (kiln server's
	// auth.users[].nkey).
	Token        string
	User         string
	Password     string
	NKeySeedFile string
	CredsFile    string
	// TLS configures TLS; RootCAs, CertFile and KeyFile name PEM files
	// as an alternative.
	TLS      *tls.Config
	RootCAs  string
	CertFile string
	KeyFile  string
	// Name names the connection in the server's monitoring. Default "kiln".
	Name string
	// OpTimeout bounds each operation whose ctx has no deadline. Default 5s.
	OpTimeout time.Duration
	// ReadConns is how many connections of their own Gets take turns on,
	// beside the one that carries writes, watches and messaging (named
	// Name + " reads" in the server's monitoring). A server answers the
	// Gets of a one-replica bucket in the connection's read loop, so a Get
	// of a record in a block the server must load first (milliseconds:
	// docs/scaling.md, "Cold records") holds up whatever the client sent
	// after it on that connection. Default (0) or -1: Gets go on the one
	// connection. 2 cut the longest wait of writes beside cold Gets at
	// 1,000,000 sessions from ~260 to ~25 ms (docs/scaling.md); it is off by
	// default until an unexplained 409 in a three-server test
	// (e2e TestClusterKillOneServer, before its kill) is ruled out as a
	// read on another connection seeing less than a write acknowledged.
	ReadConns int
	// MarkerTTL is how long the server keeps the marker it writes when a
	// key's TTL runs out, for a bucket Open creates: an expiry waits that
	// long for a subscriber of an OnExpire group, and an IfNew write of the
	// key fails that long. Whole seconds, at least 1s. Default 1h.
	MarkerTTL time.Duration
	// RedeliveryDelay is how long an expiry handed to an OnExpire handler
	// stays with it before it goes to another subscriber (the handler
	// returned an error, or its process died). Default 5s.
	RedeliveryDelay time.Duration
	// Logger receives connection events. Default slog.Default().
	Logger *slog.Logger
	// Clock is this process's time source. The engine never compares it
	// with the server's clock: it only measures time elapsed since it last
	// read the server's (see the package doc, Expiry). Default clock.Real.
	Clock clock.Clock
}

// maxOps is the largest commit: JetStream's default atomic batch limit.
const maxOps = 1000

// Options.ReadConns: the default (none of their own), and the most a
// client may open.
const (
	defaultReadConns = -1
	maxReadConns     = 16
)

// maxShards bounds Options.Shards: every shard is a stream with its own
// Raft group, and every OnExpire group a consumer on each.
const maxShards = 64

func (o Options) withDefaults() Options {
	if o.URL == "" {
		o.URL = nats.DefaultURL
	}
	if o.Bucket == "" {
		o.Bucket = "kiln"
	}
	if o.Name == "" {
		o.Name = "kiln"
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 5 * time.Second
	}
	if o.ReadConns == 0 {
		o.ReadConns = defaultReadConns
	}
	if o.MarkerTTL <= 0 {
		o.MarkerTTL = time.Hour
	}
	if o.RedeliveryDelay <= 0 {
		o.RedeliveryDelay = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	return o
}

func (o Options) validate() error {
	if !validBucket(o.Bucket) {
		return fmt.Errorf("natsengine: Options.Bucket %q: want letters, digits, '-' and '_'", o.Bucket)
	}
	if o.Replicas < 0 || o.Replicas > 5 {
		return fmt.Errorf("natsengine: Options.Replicas %d: want 0..5", o.Replicas)
	}
	if o.MaxBytes < 0 {
		return fmt.Errorf("natsengine: Options.MaxBytes %d: want 0 or more", o.MaxBytes)
	}
	if o.Shards < 0 || o.Shards > maxShards {
		return fmt.Errorf("natsengine: Options.Shards %d: want 0..%d", o.Shards, maxShards)
	}
	if o.ReadConns < -1 || o.ReadConns > maxReadConns {
		return fmt.Errorf("natsengine: Options.ReadConns %d: want -1 (none) or 1..%d", o.ReadConns, maxReadConns)
	}
	if o.MarkerTTL < time.Second {
		return fmt.Errorf("natsengine: Options.MarkerTTL %s: want at least 1s", o.MarkerTTL)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return fmt.Errorf("natsengine: Options.CertFile and Options.KeyFile go together")
	}
	if o.NKeySeedFile != "" {
		if _, err := nats.NkeyOptionFromSeed(o.NKeySeedFile); err != nil {
			return fmt.Errorf("natsengine: Options.NKeySeedFile %s: %w", o.NKeySeedFile, err)
		}
	}
	return nil
}

func validBucket(b string) bool {
	if b == "" {
		return false
	}
	for _, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// natsOptions are the connection options: reconnect forever with jittered
// exponential backoff, log connection changes.
func (o Options) natsOptions() []nats.Option {
	log := o.Logger
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(reconnectDelay),
		// No buffering while reconnecting: a write that timed out must not
		// be replayed minutes later over newer data.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("natsengine: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("natsengine: reconnected", "server", Options{URL: nc.ConnectedUrl()}.redactedURL())
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			log.Warn("natsengine: async error", "err", err)
		}),
	}
	if o.InProcess != nil {
		opts = append(opts, nats.InProcessServer(o.InProcess.NATS()))
	}
	return append(opts, o.authOptions()...)
}

func (o Options) authOptions() []nats.Option {
	var opts []nats.Option
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.NKeySeedFile != "" {
		if opt, err := nats.NkeyOptionFromSeed(o.NKeySeedFile); err == nil { // validate checked it
			opts = append(opts, opt)
		}
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.TLS != nil {
		opts = append(opts, nats.Secure(o.TLS))
	}
	if o.RootCAs != "" {
		opts = append(opts, nats.RootCAs(o.RootCAs))
	}
	if o.CertFile != "" {
		opts = append(opts, nats.ClientCert(o.CertFile, o.KeyFile))
	}
	return opts
}

// reconnectDelay backs off from 25ms to 2s, with ±25% jitter so that a
// restarted server is not hit by every client at once.
func reconnectDelay(attempts int) time.Duration {
	d := 25 * time.Millisecond << min(attempts, 7)
	d = min(d, 2*time.Second)
	return d*3/4 + rand.N(d/2)
}

// streamConfig is a shard's stream as Open creates it: what nats.go's
// CreateKeyValue makes (History 1, LimitMarkerTTL), plus atomic batch
// publish and the republishing that Watch subscribes to. The first shard
// records the shard count in its metadata.
func (o Options) streamConfig(bucket string, first bool, shards, replicas int) jetstream.StreamConfig {
	storage := jetstream.FileStorage
	if o.Memory {
		storage = jetstream.MemoryStorage
	}
	cfg := jetstream.StreamConfig{
		Name:                   streamName(bucket),
		Subjects:               []string{kvPrefix(bucket) + ">"},
		MaxMsgsPerSubject:      1,
		MaxBytes:               o.shardMaxBytes(shards),
		MaxMsgSize:             -1,
		MaxMsgs:                -1,
		MaxConsumers:           -1,
		Storage:                storage,
		Replicas:               replicas,
		AllowRollup:            true,
		DenyDelete:             true,
		Duplicates:             2 * time.Minute,
		AllowDirect:            replicas <= 1, // see upgrade
		Discard:                jetstream.DiscardNew,
		AllowMsgTTL:            true,
		SubjectDeleteMarkerTTL: o.MarkerTTL.Round(time.Second),
		AllowAtomicPublish:     true,
		RePublish:              o.rePublish(bucket),
	}
	if first {
		cfg.Metadata = map[string]string{metaShards: strconv.Itoa(shards)}
	}
	return cfg
}

// shardMaxBytes is each shard's share of MaxBytes, -1 for no limit.
func (o Options) shardMaxBytes(shards int) int64 {
	if o.MaxBytes <= 0 {
		return -1
	}
	return max(o.MaxBytes/int64(shards), 1)
}

// rePublish sends what every shard stores to the one watch prefix.
func (o Options) rePublish(bucket string) *jetstream.RePublish {
	return &jetstream.RePublish{Source: kvPrefix(bucket) + ">", Destination: o.watchPrefix() + ">"}
}

// Subject prefixes: what the whole bucket republishes for Watch, and
// messaging; a shard's stream, and its subjects.
func (o Options) watchPrefix() string { return "kilnwatch." + o.Bucket + "." }
func (o Options) msgPrefix() string   { return "kiln." + o.Bucket + "." }
func streamName(bucket string) string { return "KV_" + bucket }
func kvPrefix(bucket string) string   { return "$KV." + bucket + "." }

// redactedURL is URL without user information (a token, or a user and
// password), for messages.
func (o Options) redactedURL() string {
	urls := strings.Split(o.URL, ",")
	for i, s := range urls {
		u, err := url.Parse(strings.TrimSpace(s))
		switch {
		case err != nil:
			urls[i] = "(unparsable URL)"
		case u.User != nil:
			u.User = url.User("redacted")
			urls[i] = u.String()
		}
	}
	return strings.Join(urls, ",")
}

// secrets are the user information parts of URL, which must not appear
// in a message.
func (o Options) secrets() []string {
	var out []string
	for _, s := range strings.Split(o.URL, ",") {
		s = strings.TrimSpace(s)
		if i := strings.Index(s, "://"); i >= 0 {
			s = s[i+3:]
		}
		if at := strings.LastIndexByte(s, '@'); at > 0 {
			out = append(out, s[:at])
		}
	}
	return out
}

// redactedError is an error whose message shows none of secrets; it
// unwraps to the original.
type redactedError struct {
	err     error
	secrets []string
}

func (e redactedError) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, "redacted")
	}
	return msg
}

func (e redactedError) Unwrap() error { return e.err }

// redact hides the URL's user information in err's message.
func (o Options) redact(err error) error {
	if err == nil || len(o.secrets()) == 0 {
		return err
	}
	return redactedError{err: err, secrets: o.secrets()}
}
