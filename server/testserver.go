package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// StartTestServer runs a kiln server (Run, the code behind `kiln server`)
// on random loopback ports with token authentication and a store in
// tb.TempDir(), until the test ends, and returns its client URL. For the
// tests of packages that need a real server, such as the adapters.
func StartTestServer(tb testing.TB, token string) string {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.Data = tb.TempDir()
	cfg.HTTP.Listen = ""
	cfg.Auth.Token = token
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Run(ctx, cfg, slog.New(slog.DiscardHandler), pw)
		pw.Close()
		done <- err
	}()
	tb.Cleanup(func() { cancel(); waitStopped(tb, done) })
	return waitReady(tb, pr)
}

func waitStopped(tb testing.TB, done <-chan error) {
	select {
	case err := <-done:
		if err != nil {
			tb.Errorf("kiln server: %v", err)
		}
	case <-time.After(30 * time.Second):
		tb.Error("kiln server did not stop within 30s")
	}
}

// waitReady reads the server's stdout up to its ready line and returns
// the URL it names; the rest is discarded.
func waitReady(tb testing.TB, r io.Reader) string {
	tb.Helper()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), ReadyPrefix); ok {
				line <- u
				io.Copy(io.Discard, r)
				return
			}
		}
		close(line)
	}()
	select {
	case u, ok := <-line:
		if !ok {
			tb.Fatal("kiln server's stdout ended without the ready line")
		}
		return u
	case <-time.After(30 * time.Second):
		tb.Fatal("kiln server: no ready line within 30s")
		return ""
	}
}
