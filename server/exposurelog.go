package server

import (
	"fmt"
	"strings"
)

// exposure says, for the start-up log, who can reach the sessions and
// with what permissions: one line per risk the config leaves open,
// none when every client logs in with a role and routes log in. It
// never names a secret.
func (c *Config) exposure(clientAddr string) []string {
	var out []string
	switch c.authMode() {
	case "none":
		where := "loopback only, so any process on this machine (the default, for development)"
		if !isLoopback(c.Server.Listen) {
			where = "beyond loopback (auth.allow_unauthenticated), so anything on the network"
		}
		out = append(out, fmt.Sprintf("no authentication: %s that can reach %s can read, write and delete "+
			"every session and the session streams; give web nodes users with role: node (see docs/security.md)",
			where, clientAddr))
	case "token":
		out = append(out, "auth.token has every permission, including deleting the session streams (legacy form); "+
			"give web nodes users with role: node (see docs/security.md)")
	case "mtls":
		out = append(out, "a client certificate signed by tls.ca has every permission (legacy form); "+
			"give web nodes users with role: node (see docs/security.md)")
	}
	if len(c.Auth.Users) == 1 && c.Auth.Users[0].Role == "" {
		out = append(out, fmt.Sprintf("auth.users[0] (%q) has no role, so every permission (legacy form); "+
			"set role: node for web nodes, admin for operators", c.Auth.Users[0].User))
	}
	if cl := c.Cluster; cl != nil && cl.User == "" {
		switch {
		case c.routeTLS() && c.TLS.VerifyClients:
			out = append(out, "routes trust any certificate tls.ca signed, a web node's too: "+
				"set cluster.user and cluster.password so that routes log in")
		case !c.routeTLS():
			out = append(out, fmt.Sprintf("routes do not authenticate: anything that reaches %s can join the cluster "+
				"and read every session; set cluster.user and cluster.password", c.clusterListen()))
		}
	}
	return out
}

// authSummary names how clients authenticate, with the users per role:
// "users (node 2, admin 1)".
func (c *Config) authSummary() string {
	if c.authMode() != "users" {
		return c.authMode()
	}
	n := map[string]int{}
	for _, u := range c.Auth.Users {
		r := u.Role
		if r == "" {
			r = "legacy-admin"
		}
		n[r]++
	}
	var parts []string
	for _, r := range []string{RoleNode, RoleAdmin, RoleViewer, "legacy-admin"} {
		if n[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, n[r]))
		}
	}
	return "users (" + strings.Join(parts, ", ") + ")"
}
