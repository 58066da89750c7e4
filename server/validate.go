package server

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/nats-io/nkeys"
)

// Limits of the sessions settings.
const (
	MaxShards       = 64
	maxValueSizeMax = 64 * MiB // NATS's largest max payload
)

// Validate checks c and returns the first problem as a *FieldError that
// names the field and, for a loaded file, its line.
func (c *Config) Validate() error {
	return cmp.Or(c.validateServer(), c.validateHTTP(), c.validateAuth(),
		c.validateTLS(), c.validateCluster(), c.validateSessions(), c.validateExposure())
}

func (c *Config) validateServer() error {
	s := c.Server
	switch {
	case s.Sync != SyncPeriodic && s.Sync != SyncAlways:
		return c.fieldErr("server.sync", "%q: want %q or %q", s.Sync, SyncPeriodic, SyncAlways)
	case s.Data == "":
		return c.fieldErr("server.data", "required: the directory of the session store")
	case s.ShutdownTimeout <= 0:
		return c.fieldErr("server.shutdown_timeout", "%s: want more than 0", s.ShutdownTimeout)
	}
	return c.checkAddr("server.listen", s.Listen)
}

func (c *Config) validateHTTP() error {
	if c.HTTP.Listen == "" {
		return nil
	}
	return c.checkAddr("http.listen", c.HTTP.Listen)
}

// checkAddr checks a host:port listen address; port 0 means any free port.
func (c *Config) checkAddr(field, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return c.fieldErr(field, "%q: want host:port, such as 127.0.0.1:4222", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return c.fieldErr(field, "%q: port %q: want 0..65535", addr, port)
	}
	return nil
}

func (c *Config) validateAuth() error {
	a := c.Auth
	if a.Token != "" && len(a.Users) > 0 {
		return c.fieldErr("auth.users", "set auth.token or auth.users, not both")
	}
	seen := make(map[string]bool)
	for i, u := range a.Users {
		f := fmt.Sprintf("auth.users[%d]", i)
		switch {
		case u.User == "":
			return c.fieldErr(f+".user", "required")
		case strings.HasPrefix(u.User, internalUserPrefix):
			return c.fieldErr(f+".user", "%q: names starting with %q are kiln's own", u.User, internalUserPrefix)
		case seen[u.User]:
			return c.fieldErr(f+".user", "%q: listed twice", u.User)
		case !validRole(u.Role):
			return c.fieldErr(f+".role", "%q: want %q, %q or %q", u.Role, RoleNode, RoleAdmin, RoleViewer)
		case u.Role == "" && len(a.Users) > 1:
			return c.fieldErr(f+".role", "required with more than one user: %q, %q or %q", RoleNode, RoleAdmin, RoleViewer)
		}
		seen[u.User] = true
		if err := c.checkCredential(i); err != nil {
			return err
		}
	}
	return nil
}

// checkCredential checks auth.users[i]'s password, or its NKey.
func (c *Config) checkCredential(i int) error {
	u := c.Auth.Users[i]
	if u.NKey == "" {
		_, err := c.resolve(c.userSecret(i))
		return err
	}
	f := fmt.Sprintf("auth.users[%d].nkey", i)
	switch {
	case u.Password != "" || u.PasswordFile != "" || u.PasswordEnv != "":
		return c.fieldErr(f, "set a password or an nkey, not both")
	case !nkeys.IsValidPublicUserKey(u.NKey):
		return c.fieldErr(f, "not an NKey user public key (U...); the seed (SU...) stays with the client")
	}
	return nil
}

func (c *Config) validateTLS() error {
	t := c.TLS
	switch {
	case t.Cert != "" && t.Key == "":
		return c.fieldErr("tls.cert", "needs tls.key")
	case t.Key != "" && t.Cert == "":
		return c.fieldErr("tls.key", "needs tls.cert")
	case t.CA != "" && t.Cert == "":
		return c.fieldErr("tls.ca", "needs tls.cert and tls.key: client certificates are checked only over TLS")
	case t.VerifyClients && t.CA == "":
		return c.fieldErr("tls.verify_clients", "needs tls.ca, the CA that signs client certificates")
	}
	for _, f := range []struct{ field, path string }{{"tls.cert", t.Cert}, {"tls.key", t.Key}, {"tls.ca", t.CA}} {
		if err := c.checkFile(f.field, f.path); err != nil {
			return err
		}
	}
	return nil
}

// checkFile checks that path, if set, is a readable file.
func (c *Config) checkFile(field, path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return c.fieldErr(field, "file %q not found", path)
	case err != nil:
		return c.fieldErr(field, "%w", err)
	}
	f.Close()
	return nil
}

func (c *Config) validateCluster() error {
	cl := c.Cluster
	switch {
	case cl == nil:
		return nil
	case cl.Name == "":
		return c.fieldErr("cluster.name", "required: the same name on every server of the cluster")
	case len(cl.Routes) == 0:
		return c.fieldErr("cluster.routes", "required: the other servers' cluster URLs, nats://host:port")
	case c.Server.Name == "":
		return c.fieldErr("server.name", "required in a cluster, and unique per server")
	}
	if cl.User != "" || cl.Password != "" || cl.PasswordFile != "" || cl.PasswordEnv != "" {
		if cl.User == "" {
			return c.fieldErr("cluster.user", "required with cluster.password: routes log in as this user")
		}
		if _, err := c.resolve(c.routeSecret()); err != nil {
			return err
		}
	}
	if cl.Listen != "" {
		if err := c.checkAddr("cluster.listen", cl.Listen); err != nil {
			return err
		}
	}
	for i, r := range cl.Routes {
		if u, err := url.Parse(r); err != nil || u.Scheme != "nats" || u.Port() == "" {
			return c.fieldErr(fmt.Sprintf("cluster.routes[%d]", i), "%q: want nats://host:port", r)
		}
	}
	return nil
}

func (c *Config) validateSessions() error {
	s := c.Sessions
	switch {
	case !validBucket(s.Bucket):
		return c.fieldErr("sessions.bucket", "%q: want letters, digits, '-' and '_'", s.Bucket)
	case s.Replicas != 0 && s.Replicas != 1 && s.Replicas != 3:
		return c.fieldErr("sessions.replicas", "%d: want 0 (automatic), 1 or 3", s.Replicas)
	case s.Replicas == 3 && c.Cluster == nil:
		return c.fieldErr("sessions.replicas", "3 replicas need a cluster of three servers (cluster:)")
	case s.Shards < 1 || s.Shards > MaxShards:
		return c.fieldErr("sessions.shards", "%d: want 1..%d", s.Shards, MaxShards)
	case s.MaxBytes < 0:
		return c.fieldErr("sessions.max_bytes", "%s: want 0 (no limit) or more", s.MaxBytes)
	case s.MaxValueSize <= 0 || s.MaxValueSize > maxValueSizeMax:
		return c.fieldErr("sessions.max_value_size", "%s: want 1B..%s", s.MaxValueSize, maxValueSizeMax)
	}
	return nil
}

func validBucket(b string) bool {
	if b == "" {
		return false
	}
	for _, r := range b {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}
