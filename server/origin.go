package server

import (
	"fmt"
	"strings"
)

// FieldError is a bad configuration value: the field's path in the YAML
// (such as "tls.cert"), where the value came from, and what is wrong.
type FieldError struct {
	// Field is the YAML path: "server.listen", "auth.users[0].password".
	Field string
	// Where is the value's origin: "kiln.yaml: line 7", "flag -addr",
	// "env KILN_ADDR", or "" for a default or a value set in code.
	Where string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Where == "" {
		return fmt.Sprintf("%s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Where, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// origin records where fields got their values.
type origin struct {
	file  string            // the config file, "" if none
	lines map[string]int    // field path → line in file
	set   map[string]string // field path → "flag -addr", "env KILN_ADDR": overrides
}

// where describes the origin of field, or of its closest parent with one.
func (o origin) where(field string) string {
	for f := field; f != ""; f = parent(f) {
		if s, ok := o.set[f]; ok {
			return s
		}
		if n, ok := o.lines[f]; ok {
			return fmt.Sprintf("%s: line %d", o.file, n)
		}
	}
	if o.file != "" {
		return o.file
	}
	return ""
}

// parent is the path of field's parent: "tls" for "tls.cert",
// "auth.users" for "auth.users[0]", "" at the top.
func parent(field string) string {
	i := strings.LastIndexAny(field, ".[")
	if i < 0 {
		return ""
	}
	return field[:i]
}

// fieldErr makes a FieldError for field with the origin c knows.
func (c *Config) fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Where: c.origin.where(field), Err: fmt.Errorf(format, args...)}
}

// override records that field's value came from source, not the file.
func (c *Config) override(field, source string) {
	if c.origin.set == nil {
		c.origin.set = make(map[string]string)
	}
	c.origin.set[field] = source
}
