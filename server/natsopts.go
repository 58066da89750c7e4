package server

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// serverOptions maps a valid c onto the embedded NATS server's options;
// log receives the server's own log. With users, it also makes the
// server's own client user (see internalUser).
func (c *Config) serverOptions(log *slog.Logger) (natsengine.ServerOptions, error) {
	host, port := splitAddr(c.Server.Listen)
	o := natsengine.ServerOptions{
		Host:       host,
		Port:       port,
		StoreDir:   c.Server.Data,
		ServerName: c.Server.Name,
		SyncAlways: c.Server.Sync == SyncAlways,
		Token:      c.Auth.Token,
		TLS: natsengine.ServerTLS{
			CertFile: c.TLS.Cert, KeyFile: c.TLS.Key, CAFile: c.TLS.CA, VerifyClients: c.TLS.VerifyClients,
		},
		MaxPayload: int32(c.Sessions.MaxValueSize),
		MaxStore:   int64(c.Sessions.MaxBytes),
		Logger:     log,
		// The server recovers its store before it listens: give a big one time.
		ReadyTimeout: 5 * time.Minute,
	}
	users, err := c.serverUsers()
	if err != nil {
		return o, err
	}
	o.Users = users
	if cl := c.Cluster; cl != nil {
		chost, cport := splitAddr(c.clusterListen())
		o.Cluster = &natsengine.ClusterOptions{Name: cl.Name, Host: chost, Port: cport, Routes: cl.Routes}
		if cl.User != "" {
			if o.Cluster.Password, err = c.resolve(c.routeSecret()); err != nil {
				return o, err
			}
			o.Cluster.User = cl.User
		}
	}
	return o, nil
}

// internalUserPrefix starts the names of kiln's own users, which
// auth.users may not take.
const internalUserPrefix = "_kiln"

// internalUser is the server's own client, which creates and repairs the
// buckets: every permission, and a password generated at each start and
// kept in memory only.
const internalUser = internalUserPrefix + "_server"

// serverUsers are auth.users with their roles' permissions, plus the
// server's own user; none without auth.users.
func (c *Config) serverUsers() ([]natsengine.ServerUser, error) {
	if len(c.Auth.Users) == 0 {
		return nil, nil
	}
	if c.internalPassword == "" {
		c.internalPassword = randomPassword()
	}
	// The server holds only a hash of its own client's password, so that
	// NATS's warning about plaintext passwords is about the config's.
	hash, err := bcrypt.GenerateFromPassword([]byte(c.internalPassword), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("hash the internal password: %w", err)
	}
	users := []natsengine.ServerUser{{User: internalUser, Password: string(hash)}}
	for i, u := range c.Auth.Users {
		if u.NKey != "" {
			users = append(users, natsengine.ServerUser{User: u.User, NKey: u.NKey, Permissions: permissions(u.Role, c.Sessions.Bucket)})
			continue
		}
		pw, err := c.resolve(c.userSecret(i))
		if err != nil {
			return nil, err
		}
		users = append(users, natsengine.ServerUser{User: u.User, Password: pw, Permissions: permissions(u.Role, c.Sessions.Bucket)})
	}
	return users, nil
}

// clientOptions are the options of the server's own in-process client,
// which creates the session buckets and repairs their replica count.
func (c *Config) clientOptions(srv *natsengine.Server, log *slog.Logger) natsengine.Options {
	o := natsengine.Options{
		InProcess:      srv,
		Bucket:         c.Sessions.Bucket,
		Replicas:       c.replicas(),
		RepairReplicas: true,
		Shards:         c.Sessions.Shards,
		MaxBytes:       bucketMaxBytes(srv),
		Token:          c.Auth.Token,
		Name:           "kiln-server",
		Logger:         log,
	}
	if len(c.Auth.Users) > 0 {
		o.User, o.Password = internalUser, c.internalPassword
	}
	return o
}

// bucketShare is the part of JetStream's storage limit the session
// bucket may fill. The rest is headroom: at JetStream's limit the server
// refuses even the expiry markers it writes before removing an expired
// value, so a full store would never drain; under the bucket's own limit
// new sessions are refused but expiries, deletes and overwrites go on.
const bucketShare = 0.8

// bucketMaxBytes is the session bucket's limit: bucketShare of the
// server's JetStream storage limit (sessions.max_bytes, or what NATS
// chose: 75% of the free disk), 0 if unknown.
func bucketMaxBytes(srv *natsengine.Server) int64 {
	if jc := srv.NATS().JetStreamConfig(); jc != nil && jc.MaxStore > 0 {
		return int64(float64(jc.MaxStore) * bucketShare)
	}
	return 0
}

// splitAddr splits a valid host:port in natsengine's spelling: an empty
// host (every interface) becomes 0.0.0.0, port 0 (any free port) -1.
func splitAddr(addr string) (host string, port int) {
	host, p, _ := net.SplitHostPort(addr)
	if host == "" {
		host = "0.0.0.0"
	}
	port, _ = strconv.Atoi(p)
	if port == 0 {
		port = -1
	}
	return host, port
}

// checkFree fails fast if a fixed port of addr is taken, where the NATS
// server would only log it and never become ready.
func checkFree(field, addr string) error {
	if _, port := splitAddr(addr); port == -1 {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", field, addr, err)
	}
	return ln.Close()
}
