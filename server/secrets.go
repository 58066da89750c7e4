package server

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// secret is a password given in one of three ways: in the config
// (value), in a file (its content, trailing newline removed) or in an
// environment variable (its name). Exactly one must be set.
type secret struct {
	field       string // the field of value, e.g. "auth.users[0].password"
	value, file string
	env         string
}

// resolve returns the password, or an error naming the field; never the
// secret itself.
func (c *Config) resolve(s secret) (string, error) {
	set := 0
	for _, v := range []string{s.value, s.file, s.env} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0:
		return "", c.fieldErr(s.field, "required (or %s_file, or %s_env)", s.field, s.field)
	case set > 1:
		return "", c.fieldErr(s.field, "set one of %s, %s_file and %s_env", s.field, s.field, s.field)
	case s.file != "":
		b, err := os.ReadFile(s.file)
		if err != nil {
			return "", c.fieldErr(s.field+"_file", "%w", err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", c.fieldErr(s.field+"_file", "file %q is empty", s.file)
		}
		return p, nil
	case s.env != "":
		p := os.Getenv(s.env)
		if p == "" {
			return "", c.fieldErr(s.field+"_env", "environment variable %s is empty or unset", s.env)
		}
		return p, nil
	}
	return s.value, nil
}

// userSecret is auth.users[i]'s password source.
func (c *Config) userSecret(i int) secret {
	u := c.Auth.Users[i]
	return secret{field: fmt.Sprintf("auth.users[%d].password", i), value: u.Password, file: u.PasswordFile, env: u.PasswordEnv}
}

// routeSecret is the cluster section's route password source.
func (c *Config) routeSecret() secret {
	cl := c.Cluster
	return secret{field: "cluster.password", value: cl.Password, file: cl.PasswordFile, env: cl.PasswordEnv}
}

// randomPassword is a fresh 256-bit secret, for the server's own client.
func randomPassword() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
