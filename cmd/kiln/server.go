package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/kilnhq/kiln/server"
)

var serverCommand = command{
	name:    "server",
	summary: "run the kiln server, which stores the sessions of web nodes (-c kiln.yaml)",
	run:     runServer,
}

// runServer runs `kiln server [-c kiln.yaml] [-addr host:port] [-data dir]
// [-name n] [-http host:port]` until ctx ends (SIGINT or SIGTERM). A bad
// command line or config file exits with status 2.
func runServer(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := serverConfig(args, os.LookupEnv)
	if err != nil {
		return err
	}
	setServerGC(os.LookupEnv)
	return server.Run(ctx, cfg, slog.Default(), stdout)
}

// serverEnv maps environment variables to the fields they set; they
// override the file, and flags override them.
var serverEnv = []struct{ name, field string }{
	{"KILN_NAME", "server.name"},
	{"KILN_ADDR", "server.listen"},
	{"KILN_DATA", "server.data"},
	{"KILN_HTTP", "http.listen"},
	{"KILN_AUTH_TOKEN", "auth.token"},
	{"KILN_AUTH_USER", "auth.users[0].user"},
	{"KILN_AUTH_PASSWORD", "auth.users[0].password"},
}

// serverFlags maps flags to the fields they set.
var serverFlags = []struct{ name, field, usage string }{
	{"addr", "server.listen", "client listen address, host:port (server.listen; default 127.0.0.1:4222)"},
	{"data", "server.data", "data directory (server.data; default ./kiln-data)"},
	{"name", "server.name", "server name, unique in a cluster (server.name)"},
	{"http", "http.listen", `health endpoints' address, "" for none (http.listen; default 127.0.0.1:8222)`},
}

// serverConfig is the validated config of args: the file (-c) or the
// defaults, then the environment, then the flags. lookupEnv is
// os.LookupEnv outside tests.
func serverConfig(args []string, lookupEnv func(string) (string, bool)) (server.Config, error) {
	fs := flag.NewFlagSet("kiln server", flag.ContinueOnError)
	path := fs.String("c", "", "config file, YAML (see kiln.example.yaml); none: a single server on loopback")
	for _, f := range serverFlags {
		fs.String(f.name, "", f.usage)
	}
	if err := parseFlags(fs, args); err != nil {
		return server.Config{}, err
	}
	if fs.NArg() > 0 {
		return server.Config{}, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return cfg, configError{err}
	}
	if err := override(&cfg, fs, lookupEnv); err != nil {
		return cfg, configError{err}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, configError{err}
	}
	return cfg, nil
}

func loadConfig(path string) (server.Config, error) {
	if path == "" {
		return server.DefaultConfig(), nil
	}
	return server.Load(path)
}

// override applies the environment, then the flags set in fs.
func override(cfg *server.Config, fs *flag.FlagSet, lookupEnv func(string) (string, bool)) error {
	for _, e := range serverEnv {
		if v, ok := lookupEnv(e.name); ok && v != "" {
			if err := cfg.Set(e.field, v, "env "+e.name); err != nil {
				return err
			}
		}
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		for _, sf := range serverFlags {
			if sf.name == f.Name && err == nil {
				err = cfg.Set(sf.field, f.Value.String(), "flag -"+f.Name)
			}
		}
	})
	return err
}

// configError is a bad config file, flag or environment variable: exit
// status 2, with the message as it is (it names the file, line and field).
type configError struct{ err error }

func (e configError) Error() string   { return e.err.Error() }
func (e configError) Unwrap() []error { return []error{errUsage, e.err} }
