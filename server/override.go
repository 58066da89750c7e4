package server

import "fmt"

// Overridable lists the fields Set accepts: those operators expect to
// set with a flag or an environment variable.
var Overridable = []string{
	"server.name", "server.listen", "server.data", "http.listen",
	"auth.token", "auth.users[0].user", "auth.users[0].password",
}

// Set replaces field's value with value, which came from source (such as
// "flag -addr" or "env KILN_ADDR"): Validate's errors about the field then
// name source instead of the file. Setting a user or password when the
// file has no user adds one.
func (c *Config) Set(field, value, source string) error {
	p := c.stringField(field)
	if p == nil {
		return fmt.Errorf("%s: %s cannot be set this way", source, field)
	}
	*p = value
	c.override(field, source)
	return nil
}

// stringField points at the overridable field, nil for others.
func (c *Config) stringField(field string) *string {
	switch field {
	case "server.name":
		return &c.Server.Name
	case "server.listen":
		return &c.Server.Listen
	case "server.data":
		return &c.Server.Data
	case "http.listen":
		return &c.HTTP.Listen
	case "auth.token":
		return &c.Auth.Token
	case "auth.users[0].user":
		return &c.firstUser().User
	case "auth.users[0].password":
		return &c.firstUser().Password
	}
	return nil
}

// firstUser is auth.users[0], added if there is none.
func (c *Config) firstUser() *User {
	if len(c.Auth.Users) == 0 {
		c.Auth.Users = []User{{}}
	}
	return &c.Auth.Users[0]
}
