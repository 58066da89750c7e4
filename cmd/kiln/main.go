// Command kiln is kiln's command line: it runs the kiln server, and a
// whole demo cluster on one machine.
//
//	kiln server [-c kiln.yaml] [-addr host:port] [-data dir] [-name n] [-http host:port]
//	kiln demo [-addr 127.0.0.1:8080] [-nodes 3] [-sticky]
//	kiln version
//	kiln help
//
// Results go to stdout, diagnostics (log/slog) to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand; each lives in a file of its own.
type command struct {
	name    string
	summary string
	// run runs the command until it is done or ctx ends.
	run func(ctx context.Context, args []string, stdout io.Writer) error
}

// commands lists the subcommands in the order help shows them.
var commands = []command{demoCommand, serverCommand, versionCommand}

// errUsage marks a command line the user must fix (exit status 2).
var errUsage = errors.New("usage")

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		printHelp(stdout)
		return 0
	}
	cmd, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "kiln: unknown command %q\n\n", args[0])
		printHelp(stderr)
		return 2
	}
	return exitStatus(cmd.run(ctx, args[1:], stdout), cmd.name, stderr)
}

// exitStatus reports err and returns the exit status it calls for.
func exitStatus(err error, name string, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "kiln %s: %v\n", name, err)
		return 2
	}
	fmt.Fprintf(stderr, "kiln %s: %v\n", name, err)
	return 1
}

// parseFlags parses args with fs; a bad flag is a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return err
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "kiln clusters the HTTP sessions of Go web applications.")
	fmt.Fprintln(w, "\nUsage: kiln <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-8s %s\n", "help", "show this help")
	fmt.Fprintln(w, "\nRun 'kiln <command> -h' for a command's flags.")
}
