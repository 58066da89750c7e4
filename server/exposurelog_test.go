package server

import (
	"strings"
	"testing"
)

// TestExposure_StartUpWarnings: the start-up log says what each config
// leaves open, and nothing when web nodes have roles and routes log in.
func TestExposure_StartUpWarnings(t *testing.T) {
	roles := []User{{User: "web", Password: "a", Role: RoleNode}, {User: "ops", Password: "b", Role: RoleAdmin}}
	tests := []struct {
		name string
		edit func(c *Config)
		want []string // one line each, in order
	}{
		{"Default", func(c *Config) {}, []string{"no authentication: loopback only, so any process on this machine (the default, for development) that can reach nats://127.0.0.1:4222"}},
		{"OpenExplicitly", func(c *Config) {
			c.Server.Listen = "0.0.0.0:4222"
			c.Auth.AllowUnauthenticated = true
		}, []string{"no authentication: beyond loopback (auth.allow_unauthenticated), so anything on the network"}},
		{"Token", func(c *Config) { c.Auth.Token = "t" }, []string{"auth.token has every permission"}},
		{"MTLS", func(c *Config) { c.TLS.VerifyClients = true }, []string{"a client certificate signed by tls.ca has every permission"}},
		{"LegacyUser", func(c *Config) { c.Auth.Users = []User{{User: "app", Password: "p"}} }, []string{`auth.users[0] ("app") has no role`}},
		{"Roles", func(c *Config) { c.Auth.Users = roles }, nil},
		{"RoutesWithoutLogin", func(c *Config) {
			c.Auth.Users = roles
			c.Cluster = &ClusterConfig{Name: "c"}
		}, []string{"routes do not authenticate: anything that reaches 127.0.0.1:6222"}},
		{"RouteTLSWithClientCerts", func(c *Config) {
			c.Auth.Users = roles
			c.TLS = TLSConfig{CA: "ca.pem", VerifyClients: true}
			c.Cluster = &ClusterConfig{Name: "c"}
		}, []string{"routes trust any certificate tls.ca signed, a web node's too"}},
		{"RoutesLogIn", func(c *Config) {
			c.Auth.Users = roles
			c.Cluster = &ClusterConfig{Name: "c", User: "route", Password: "r"}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			got := c.exposure("nats://127.0.0.1:4222")
			if len(got) != len(tt.want) {
				t.Fatalf("exposure = %q, want %d lines like %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("line %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// TestAuthSummary names the users per role, never a password.
func TestAuthSummary(t *testing.T) {
	c := roleConfig(t)
	if got, want := c.authSummary(), "users (node 1, admin 1, viewer 1)"; got != want {
		t.Errorf("authSummary = %q, want %q", got, want)
	}
}
