package natsengine

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerOptions configure an embedded NATS server with JetStream.
type ServerOptions struct {
	// Host is the client listen address. Default 127.0.0.1.
	Host string
	// Port is the client port: 0 means 4222, -1 a random free port.
	Port int
	// StoreDir is where JetStream keeps its data. Required unless InMemory.
	StoreDir string
	// InMemory allows an empty StoreDir: the server then gets a private
	// temporary directory, removed by Shutdown, and buckets must use
	// memory storage (Options.Memory) to keep their data out of it.
	InMemory bool
	// ServerName names the server in logs and in its cluster. Required
	// with Cluster, and then unique in the cluster and the same across
	// restarts on one StoreDir. Default: chosen by NATS.
	ServerName string
	// DontListen serves in-process connections only (Options.InProcess);
	// no TCP port is opened. Not with Cluster.
	DontListen bool
	// SyncAlways fsyncs every write before acknowledging it: acknowledged
	// writes then survive power loss, at about 10x the write cost. Without
	// it the file store fsyncs every 2 minutes.
	SyncAlways bool
	// Token, or User and Password, require clients to authenticate.
	Token    string
	User     string
	Password string
	// Users, if set, are the users clients log in as, each with its own
	// permissions; not with Token, User or Password.
	Users []ServerUser
	// TLS, if CertFile is set, makes clients connect with TLS.
	TLS ServerTLS
	// Cluster, if set, joins this server to a cluster of servers that
	// replicate JetStream data (buckets with Options.Replicas 3). Nil: a
	// standalone server.
	Cluster *ClusterOptions
	// MaxPayload is the largest message, in bytes. 0: the NATS default,
	// 1 MiB.
	MaxPayload int32
	// MaxStore caps JetStream's file storage, in bytes. 0: no cap but
	// the disk.
	MaxStore int64
	// MaxMemory caps JetStream's memory storage, in bytes. 0: the NATS
	// default, 75% of the machine's memory.
	MaxMemory int64
	// Logger receives the server's log; nil silences it.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the server to accept connections.
	// Default 10s.
	ReadyTimeout time.Duration
}

// ServerUser is a user clients log in as, with a password, or an NKey:
// the user's public key ("U..."), whose seed the client holds.
type ServerUser struct {
	User     string
	Password string
	NKey     string
	// Permissions limit what the user may publish and subscribe to
	// (JetStream API calls are publishes on $JS.API.>); nil: everything.
	Permissions *server.Permissions
}

// ServerTLS configures TLS for client connections. In-process
// connections (Options.InProcess) need none.
type ServerTLS struct {
	// CertFile and KeyFile are the server's PEM certificate and key.
	CertFile string
	KeyFile  string
	// CAFile holds the PEM certificates that sign client certificates.
	CAFile string
	// VerifyClients requires mutual TLS: every client presents a
	// certificate signed by CAFile.
	VerifyClients bool
}

// ClusterOptions join a server to a cluster. Three servers, each
// listing the other two in Routes, make a cluster on which buckets with
// Options.Replicas 3 survive the loss of any one server.
//
// When ServerOptions.TLS has a CAFile, routes use mutual TLS with the
// server's certificate, which must then be valid for both server and
// client authentication and for the hosts in Routes; peers must present
// a certificate the CA signed. Without it, routes are neither encrypted
// nor authenticated: keep the route port on a private network.
type ClusterOptions struct {
	// Name is the cluster's name, the same on every server. Default "kiln".
	Name string
	// Host is the address routes listen on. Default 127.0.0.1.
	Host string
	// Port is the route port: 0 means 6222, -1 a random free port.
	Port int
	// Routes are the other servers, as nats://host:port of their route
	// ports. Listing this server itself does no harm.
	Routes []string
	// User and Password, if set, authenticate routes: this server
	// presents them to the servers in Routes, and refuses a route that
	// does not present them. The same on every server; a client's
	// credentials (or certificate) then cannot open a route.
	User     string
	Password string
}

// defaultReadyTimeout bounds StartServer's wait for connections.
const defaultReadyTimeout = 10 * time.Second

// serverOptions translates opts; tempDir is a directory it created.
func serverOptions(opts ServerOptions) (sopts *server.Options, tempDir string, err error) {
	if err := opts.validate(); err != nil {
		return nil, "", err
	}
	sopts = &server.Options{
		Host:               opts.Host,
		Port:               opts.Port,
		ServerName:         opts.ServerName,
		DontListen:         opts.DontListen,
		JetStream:          true,
		SyncAlways:         opts.SyncAlways,
		Authorization:      opts.Token,
		Username:           opts.User,
		Password:           opts.Password,
		MaxPayload:         opts.MaxPayload,
		JetStreamMaxStore:  opts.MaxStore,
		JetStreamMaxMemory: opts.MaxMemory,
		NoSigs:             true,
		NoLog:              opts.Logger == nil,
	}
	setUsers(sopts, opts.Users)
	if sopts.Host == "" {
		sopts.Host = "127.0.0.1"
	}
	if sopts.Port == 0 {
		sopts.Port = 4222
	}
	if err := setTLS(sopts, opts.TLS); err != nil {
		return nil, "", err
	}
	setCluster(sopts, opts.Cluster)
	if err := setRouteTLS(sopts, opts); err != nil {
		return nil, "", err
	}
	sopts.StoreDir, tempDir, err = storeDir(opts)
	if err != nil {
		return nil, "", err
	}
	return sopts, tempDir, nil
}

func (o ServerOptions) validate() error {
	switch {
	case o.StoreDir == "" && !o.InMemory:
		return errors.New("natsengine: ServerOptions.StoreDir is required unless InMemory is set")
	case o.MaxPayload < 0:
		return fmt.Errorf("natsengine: ServerOptions.MaxPayload %d: want 0 or more", o.MaxPayload)
	case o.MaxStore < 0 || o.MaxMemory < 0:
		return errors.New("natsengine: ServerOptions.MaxStore and MaxMemory: want 0 or more")
	}
	if len(o.Users) > 0 && (o.Token != "" || o.User != "" || o.Password != "") {
		return errors.New("natsengine: ServerOptions.Users rules out Token, User and Password")
	}
	if err := o.TLS.validate(); err != nil {
		return err
	}
	if o.Cluster != nil {
		return o.validateCluster()
	}
	return nil
}

func (t ServerTLS) validate() error {
	if t.CertFile == "" {
		if t.KeyFile != "" || t.CAFile != "" || t.VerifyClients {
			return errors.New("natsengine: ServerOptions.TLS needs CertFile")
		}
		return nil
	}
	if t.KeyFile == "" {
		return errors.New("natsengine: ServerOptions.TLS.CertFile needs KeyFile")
	}
	if t.VerifyClients && t.CAFile == "" {
		return errors.New("natsengine: ServerOptions.TLS.VerifyClients needs CAFile")
	}
	for _, f := range []string{t.CertFile, t.KeyFile, t.CAFile} {
		if f == "" {
			continue
		}
		if _, err := os.ReadFile(f); err != nil {
			return fmt.Errorf("natsengine: TLS file %s: %w", f, err)
		}
	}
	return nil
}

func (o ServerOptions) validateCluster() error {
	if o.ServerName == "" {
		return errors.New("natsengine: ServerOptions.ServerName is required with Cluster (unique in the cluster, stable across restarts)")
	}
	if o.DontListen {
		return errors.New("natsengine: ServerOptions.DontListen rules out Cluster: routes need sockets")
	}
	for _, r := range o.Cluster.Routes {
		u, err := url.Parse(strings.TrimSpace(r))
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "nats-route") {
			return fmt.Errorf("natsengine: ServerOptions.Cluster.Routes: %q: want nats://host:port", r)
		}
	}
	return nil
}

// setTLS makes client connections use TLS when t has a certificate.
func setTLS(sopts *server.Options, t ServerTLS) error {
	if t.CertFile == "" {
		return nil
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: t.CertFile, KeyFile: t.KeyFile, CaFile: t.CAFile, Verify: t.VerifyClients,
	})
	if err != nil {
		return fmt.Errorf("natsengine: TLS (cert %s, key %s, CA %s): %w", t.CertFile, t.KeyFile, t.CAFile, err)
	}
	sopts.TLSConfig = tc
	sopts.TLS = true
	sopts.TLSVerify = t.VerifyClients
	sopts.TLSTimeout = 2 // seconds
	return nil
}

func setCluster(sopts *server.Options, c *ClusterOptions) {
	if c == nil {
		return
	}
	sopts.Cluster.Name = c.Name
	if sopts.Cluster.Name == "" {
		sopts.Cluster.Name = "kiln"
	}
	sopts.Cluster.Host = c.Host
	if sopts.Cluster.Host == "" {
		sopts.Cluster.Host = "127.0.0.1"
	}
	sopts.Cluster.Port = c.Port
	if sopts.Cluster.Port == 0 {
		sopts.Cluster.Port = 6222
	}
	if len(c.Routes) > 0 {
		sopts.Routes = server.RoutesFromStr(strings.Join(c.Routes, ","))
	}
	if c.User != "" {
		sopts.Cluster.Username, sopts.Cluster.Password = c.User, c.Password
		for _, r := range sopts.Routes {
			if r.User == nil {
				r.User = url.UserPassword(c.User, c.Password)
			}
		}
	}
}

// setUsers gives the server its users, each with its permissions.
func setUsers(sopts *server.Options, users []ServerUser) {
	for _, u := range users {
		if u.NKey != "" {
			sopts.Nkeys = append(sopts.Nkeys, &server.NkeyUser{Nkey: u.NKey, Permissions: u.Permissions})
			continue
		}
		sopts.Users = append(sopts.Users, &server.User{Username: u.User, Password: u.Password, Permissions: u.Permissions})
	}
}

// setRouteTLS secures a cluster's routes with mutual TLS when opts.TLS
// names a CA: each server presents its certificate to its peers and
// accepts only peers whose certificate the CA signed.
func setRouteTLS(sopts *server.Options, opts ServerOptions) error {
	t := opts.TLS
	if opts.Cluster == nil || t.CAFile == "" {
		return nil
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: t.CertFile, KeyFile: t.KeyFile, CaFile: t.CAFile, Verify: true})
	if err != nil {
		return fmt.Errorf("natsengine: route TLS (cert %s, key %s, CA %s): %w", t.CertFile, t.KeyFile, t.CAFile, err)
	}
	tc.RootCAs = tc.ClientCAs // a route dials its peers too
	sopts.Cluster.TLSConfig = tc
	sopts.Cluster.TLSTimeout = 2 // seconds
	return nil
}

// storeDir is opts.StoreDir, or a temporary directory it made (tempDir)
// for InMemory.
func storeDir(opts ServerOptions) (dir, tempDir string, err error) {
	if opts.StoreDir != "" {
		return opts.StoreDir, "", checkStoreDir(opts.StoreDir)
	}
	dir, err = os.MkdirTemp("", "kiln-nats-")
	if err != nil {
		return "", "", fmt.Errorf("natsengine: temp store dir: %w", err)
	}
	return dir, dir, nil
}

// ErrStoreDir: ServerOptions.StoreDir cannot be created or written.
// NATS itself only logs that JetStream cannot start, and the server then
// never becomes ready.
var ErrStoreDir = errors.New("natsengine: store directory not usable")

// checkStoreDir creates dir if missing and checks that a file can be
// written in it.
func checkStoreDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("%w: %w", ErrStoreDir, err)
	}
	f, err := os.CreateTemp(dir, ".kiln-write-check-*")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStoreDir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
