package server

import "net"

// validateExposure refuses a port that carries sessions beyond loopback
// without authentication, unless the operator said so explicitly.
//
// The client port needs auth.token, auth.users or tls.verify_clients, or
// auth.allow_unauthenticated. The cluster port needs tls.ca (routes then
// use mutual TLS: each server presents tls.cert, which the CA must have
// signed), cluster.user and a password (routes log in), or
// cluster.allow_unauthenticated, for a private network. The
// HTTP port may listen anywhere: /healthz and /readyz reveal nothing but
// "ok" or why the server is not ready.
func (c *Config) validateExposure() error {
	if !isLoopback(c.Server.Listen) && c.authMode() == "none" && !c.Auth.AllowUnauthenticated {
		return c.fieldErr("server.listen", "%q listens beyond loopback without authentication: "+
			"set auth.token, auth.users or tls.verify_clients (or auth.allow_unauthenticated: true)", c.Server.Listen)
	}
	if cl := c.Cluster; cl != nil && !isLoopback(c.clusterListen()) && !c.routeTLS() && cl.User == "" && !cl.AllowUnauthenticated {
		return c.fieldErr("cluster.listen", "%q listens beyond loopback without route authentication: "+
			"set cluster.user and cluster.password (the same on every server), "+
			"or tls.cert, tls.key and tls.ca (routes then use mutual TLS), "+
			"or on a private network cluster.allow_unauthenticated: true", c.clusterListen())
	}
	return nil
}

// routeTLS reports whether cluster routes use mutual TLS: with a CA.
func (c *Config) routeTLS() bool { return c.Cluster != nil && c.TLS.CA != "" }

// clusterListen is the cluster address, with its default.
func (c *Config) clusterListen() string {
	if c.Cluster == nil || c.Cluster.Listen == "" {
		return defaultClusterListen
	}
	return c.Cluster.Listen
}

// isLoopback reports whether addr (host:port) listens on loopback only:
// "localhost" or a loopback IP. An empty host or 0.0.0.0 is every
// interface; any other name may resolve beyond loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
