package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

const testToken = "s3cret-t0ken"

// testConfig is a single server on random loopback ports with its store
// in a temp dir, requiring testToken.
func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.Data = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Auth.Token = testToken
	return cfg
}

// started is a server Run runs for a test.
type started struct {
	url    string // nats://127.0.0.1:port, from the ready line
	http   string // http://127.0.0.1:port
	log    *serverLog
	stdout io.Reader    // Run's stdout
	stop   func() error // cancels Run's ctx and returns what Run returned
}

// mustRun runs cfg until the test ends and waits for the ready line.
func mustRun(t *testing.T, cfg Config) *started {
	t.Helper()
	s := launch(t, cfg)
	s.waitReady(t)
	return s
}

// launch runs cfg until the test ends, without waiting.
func launch(t *testing.T, cfg Config) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &serverLog{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Run(ctx, cfg, log, pw)
		pw.Close()
		done <- err
	}()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = waitDone(t, done) })
		return runErr
	}
	t.Cleanup(func() { stop() })
	return &started{stdout: pr, log: logs, stop: stop}
}

// waitReady waits for the ready line and reads the addresses.
func (s *started) waitReady(t *testing.T) {
	t.Helper()
	s.url = readyURL(t, s.stdout)
	go io.Copy(io.Discard, s.stdout)
	if addr := s.log.startAttr(t, "http"); addr != "off" {
		s.http = "http://" + addr
	}
}

func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context ending")
		return nil
	}
}

// readyURL reads stdout until the ready line and returns its URL.
func readyURL(t *testing.T, r io.Reader) string {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), ReadyPrefix) {
				line <- strings.TrimPrefix(sc.Text(), ReadyPrefix)
				return
			}
		}
		close(line)
	}()
	select {
	case u, ok := <-line:
		if !ok {
			t.Fatal("Run's stdout ended without the ready line")
		}
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("no ready line within 30s")
		return ""
	}
}

// serverLog is Run's log, which tests read while Run writes.
type serverLog struct{ testutil.LogBuffer }

// startLine is the start-up log record, decoded.
func (s *serverLog) startLine(t *testing.T) map[string]any {
	t.Helper()
	for _, l := range strings.Split(s.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "kiln server: started" {
			return rec
		}
	}
	t.Fatalf("no start-up line in the log:\n%s", s)
	return nil
}

func (s *serverLog) startAttr(t *testing.T, key string) string {
	t.Helper()
	v, _ := s.startLine(t)[key].(string)
	return v
}

// mustOpen connects a web node's client to s with token.
func mustOpen(t *testing.T, url, token string) *natsengine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: url, Token: token, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func TestRun(t *testing.T) {
	s := mustRun(t, testConfig(t))
	if !strings.HasPrefix(s.url, "nats://127.0.0.1:") || strings.HasSuffix(s.url, ":0") {
		t.Errorf("ready URL %q; want nats://127.0.0.1:<the real port>", s.url)
	}
	eng := mustOpen(t, s.url, testToken)
	ctx := t.Context()
	if _, err := eng.Commit(ctx, engine.Op{Key: "session.a.attr.x", Value: []byte("1"), IfNew: true}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if ent, err := eng.Get(ctx, "session.a.attr.x"); err != nil || string(ent.Value) != "1" {
		t.Errorf("Get = %q, %v; want 1", ent.Value, err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, s.http+path); code != http.StatusOK || body != "ok" {
			t.Errorf("GET %s = %d %q; want 200 ok", path, code, body)
		}
	}
	if err := s.stop(); err != nil {
		t.Errorf("Run returned %v after its context ended; want nil", err)
	}
	if _, err := http.Get(s.http + "/healthz"); err == nil {
		t.Error("/healthz still answers after Run returned")
	}
}

func TestRun_StartLine(t *testing.T) {
	cfg := testConfig(t)
	s := mustRun(t, cfg)
	rec := s.log.startLine(t)
	for key, want := range map[string]string{"auth": "token", "tls": "off", "data": cfg.Server.Data, "sync": "periodic", "client": s.url} {
		if rec[key] != want {
			t.Errorf("start line %s = %v; want %q", key, rec[key], want)
		}
	}
	if strings.Contains(s.log.String(), testToken) {
		t.Errorf("the token appears in the log:\n%s", s.log)
	}
	if n := strings.Count(s.log.String(), `"level":"INFO"`); n != 1 {
		t.Errorf("%d INFO lines at start-up; want the start line only:\n%s", n, s.log)
	}
}

func TestRun_WrongToken(t *testing.T) {
	s := mustRun(t, testConfig(t))
	for _, token := range []string{"", "wrong"} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := natsengine.Open(ctx, natsengine.Options{URL: s.url, Token: token, Logger: slog.New(slog.DiscardHandler)})
		cancel()
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("Open with token %q = %v; want an authorization error", token, err)
		}
	}
}

func TestRun_User(t *testing.T) {
	cfg := testConfig(t)
	cfg.Auth.Token = ""
	cfg.Auth.Users = []User{{User: "app", Password: "pw-secret"}}
	s := mustRun(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: s.url, User: "app", Password: "pw-secret", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open as app: %v", err)
	}
	eng.Close()
	// The legacy single user without a role keeps every permission.
	legacy := connectAs(t, s.url, "app", "pw-secret")
	if _, err := legacy.js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "OPS", Subjects: []string{"ops.>"}}); err != nil {
		t.Errorf("legacy user: create a stream: %v", err)
	}
	if !s.log.Contains("has no role, so every permission") {
		t.Errorf("no warning about the legacy user's permissions:\n%s", s.log)
	}
	if s.log.startAttr(t, "auth") != "users (legacy-admin 1)" || strings.Contains(s.log.String(), "pw-secret") {
		t.Errorf("start line auth %q, or the password in the log:\n%s", s.log.startAttr(t, "auth"), s.log)
	}
}

func TestRun_Restart(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.Listen = ""
	s := mustRun(t, cfg)
	eng := mustOpen(t, s.url, testToken)
	if _, err := eng.Commit(t.Context(), engine.Op{Key: "k", Value: []byte("kept"), IfNew: true}); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = mustRun(t, cfg)
	if ent, err := mustOpen(t, s.url, testToken).Get(t.Context(), "k"); err != nil || string(ent.Value) != "kept" {
		t.Errorf("after a restart Get = %q, %v; want kept", ent.Value, err)
	}
}

func TestRun_InvalidConfig(t *testing.T) {
	cfg := testConfig(t)
	cfg.Sessions.Shards = 0
	err := Run(t.Context(), cfg, nil, io.Discard)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "sessions.shards" {
		t.Errorf("Run = %v; want a FieldError on sessions.shards", err)
	}
}

func TestRun_PortInUse(t *testing.T) {
	s := mustRun(t, testConfig(t))
	cfg := testConfig(t)
	cfg.Server.Listen = strings.TrimPrefix(s.url, "nats://")
	cfg.HTTP.Listen = ""
	if err := Run(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard); err == nil {
		t.Error("Run on a port in use = nil; want an error")
	}
}
