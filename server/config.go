package server

// Config is the kiln server's configuration, as kiln.yaml spells it.
// Start from DefaultConfig (or Load, which starts from it), change what
// you need, then call Validate.
type Config struct {
	Server   ServerConfig   `yaml:"server"`
	HTTP     HTTPConfig     `yaml:"http"`
	Auth     AuthConfig     `yaml:"auth"`
	TLS      TLSConfig      `yaml:"tls"`
	Cluster  *ClusterConfig `yaml:"cluster"` // nil: a single server
	Sessions SessionsConfig `yaml:"sessions"`

	// internalPassword is the random password of the server's own
	// client when clients log in as users: set when the server starts.
	internalPassword string

	// origin says where each field's value came from (file and line,
	// flag or environment variable), for error messages.
	origin origin
}

// ServerConfig is the NATS server kiln embeds.
type ServerConfig struct {
	// Name names the server; required, and unique per server, in a
	// cluster. Default "" (NATS picks an ID).
	Name string `yaml:"name"`
	// Listen is the client address, host:port, that web nodes connect to.
	// Port 0 picks a free port. Default 127.0.0.1:4222.
	Listen string `yaml:"listen"`
	// Data is the JetStream file store directory, created if missing.
	// Default ./kiln-data (relative paths are relative to the working
	// directory).
	Data string `yaml:"data"`
	// Sync is SyncPeriodic (the default) or SyncAlways: see docs/server.md
	// for what an acknowledged write survives with each.
	Sync string `yaml:"sync"`
	// ShutdownTimeout bounds the graceful shutdown of the HTTP endpoints.
	// Default 10s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// Sync values.
const (
	// SyncPeriodic fsyncs every 2 minutes: acknowledged writes survive a
	// process crash, recent ones may be lost on power loss.
	SyncPeriodic = "periodic"
	// SyncAlways fsyncs every write before acknowledging it, at about 10x
	// the write cost.
	SyncAlways = "always"
)

// HTTPConfig is the health endpoints' listener.
type HTTPConfig struct {
	// Listen is the address of /healthz and /readyz; "" disables them.
	// Port 0 picks a free port. Default 127.0.0.1:8222.
	Listen string `yaml:"listen"`
}

// AuthConfig says how clients authenticate: users with passwords and
// roles, or (the legacy, full-permission forms) a token or a client
// certificate (see TLSConfig.VerifyClients). docs/security.md has the
// threat model.
type AuthConfig struct {
	// Token is a shared secret clients present; whoever holds it may do
	// everything (legacy: prefer users with roles).
	Token string `yaml:"token"`
	// Users are the users clients log in as, each with a role.
	Users []User `yaml:"users"`
	// AllowUnauthenticated lets the client port (and the cluster port)
	// listen beyond loopback without authentication.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
}

// User is a user name, its password (in the file, in a file, or in an
// environment variable: exactly one of the three) or instead its NKey,
// and its role.
type User struct {
	User         string `yaml:"user"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// NKey is the user's NKey public key ("U..."), instead of a password:
	// the client signs the server's challenge with the seed, which never
	// leaves it (natsengine.Options.NKeySeedFile). User then only names
	// the entry.
	NKey string `yaml:"nkey"`
	// Role is RoleNode, RoleAdmin or RoleViewer. Required with more than
	// one user; a single user without one is the legacy form and has
	// every permission, as RoleAdmin.
	Role string `yaml:"role"`
}

// TLSConfig is TLS on the client port.
type TLSConfig struct {
	// Cert and Key are PEM files; with both set the client port speaks TLS.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// CA is a PEM file of the CAs client certificates must chain to. In a
	// cluster it also makes routes use mutual TLS: every server presents
	// Cert (valid for server and client auth and for its route host),
	// which CA must have signed.
	CA string `yaml:"ca"`
	// VerifyClients requires a client certificate signed by CA (mutual
	// TLS); it counts as authentication.
	VerifyClients bool `yaml:"verify_clients"`
}

// ClusterConfig makes the server one of a replicated cluster.
type ClusterConfig struct {
	// Name is the cluster's name, the same on every server. Required.
	Name string `yaml:"name"`
	// Listen is the address, host:port, other servers' routes connect to.
	// Default 127.0.0.1:6222.
	Listen string `yaml:"listen"`
	// Routes are the other servers' cluster URLs, nats://host:port; a
	// server may list itself. Required.
	Routes []string `yaml:"routes"`
	// AllowUnauthenticated lets Listen be beyond loopback without tls.ca.
	// With tls.ca, routes use mutual TLS; without it they are neither
	// encrypted nor authenticated, so the cluster belongs on a private
	// network.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// User and a password (Password, PasswordFile or PasswordEnv: one of
	// them) authenticate routes: every server of the cluster has the same,
	// presents them to the others and refuses a route without them, so
	// that no client credential or certificate can open a route.
	User         string `yaml:"user"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// SessionsConfig is the store of the sessions.
type SessionsConfig struct {
	// Bucket names the KV bucket; web nodes must use the same. Default "kiln".
	Bucket string `yaml:"bucket"`
	// Replicas is 1 or 3 (3 needs a cluster of three servers); 0 picks 3
	// with a cluster section, else 1, so every server of a cluster wants
	// the same count. The server creates the buckets with it and updates
	// an existing bucket with another count to it. Default 0.
	Replicas int `yaml:"replicas"`
	// Shards spreads sessions over that many streams, 1..64, so writes
	// spread over stream leaders. It applies when the buckets are created:
	// an existing bucket keeps its count, and a different value here is
	// logged as a warning. Default 1.
	Shards int `yaml:"shards"`
	// MaxBytes limits the server's JetStream file store; 0 leaves NATS's
	// own limit (75% of the disk's free space when the server starts).
	// The session bucket may fill 80% of it: the rest lets a full store
	// still expire, and so drain, by itself. Default 0.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxValueSize is the largest record a client may write (the NATS
	// max payload), at most 64MiB. Default 1MiB.
	MaxValueSize ByteSize `yaml:"max_value_size"`
}

// DefaultConfig is a single server on loopback with no authentication:
// safe, because nothing beyond this machine can reach it.
func DefaultConfig() Config {
	return Config{
		Server: ServerConfig{
			Listen:          "127.0.0.1:4222",
			Data:            "./kiln-data",
			Sync:            SyncPeriodic,
			ShutdownTimeout: Duration(10e9),
		},
		HTTP:     HTTPConfig{Listen: "127.0.0.1:8222"},
		Sessions: SessionsConfig{Bucket: "kiln", Shards: 1, MaxValueSize: MiB},
	}
}

// defaultClusterListen is the cluster address when cluster.listen is empty.
const defaultClusterListen = "127.0.0.1:6222"

// replicas is the replication factor the buckets get.
func (c *Config) replicas() int {
	if c.Sessions.Replicas != 0 {
		return c.Sessions.Replicas
	}
	if c.Cluster != nil {
		return 3
	}
	return 1
}

// authMode names how clients authenticate, for logs: never a secret.
func (c *Config) authMode() string {
	switch {
	case c.Auth.Token != "":
		return "token"
	case len(c.Auth.Users) > 0:
		return "users"
	case c.TLS.VerifyClients:
		return "mtls"
	}
	return "none"
}

// tlsOn reports whether the client port speaks TLS.
func (c *Config) tlsOn() bool { return c.TLS.Cert != "" && c.TLS.Key != "" }
