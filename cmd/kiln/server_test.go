package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/server"
)

// env is a fake environment for serverConfig.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const fileYAML = `server:
  name: from-file
  listen: 127.0.0.1:5000
  data: /file/data
http:
  listen: 127.0.0.1:5001
auth:
  token: file-token
`

func TestServerConfig_Overrides(t *testing.T) {
	path := writeFile(t, "kiln.yaml", fileYAML)
	tests := []struct {
		name                     string
		args                     []string
		env                      env
		listen, data, nm, h, tok string
	}{
		{"File", []string{"-c", path}, nil,
			"127.0.0.1:5000", "/file/data", "from-file", "127.0.0.1:5001", "file-token"},
		{"Env", []string{"-c", path}, env{"KILN_ADDR": "127.0.0.1:6000", "KILN_DATA": "/env", "KILN_NAME": "env", "KILN_HTTP": "127.0.0.1:6001", "KILN_AUTH_TOKEN": "env-token"},
			"127.0.0.1:6000", "/env", "env", "127.0.0.1:6001", "env-token"},
		{"FlagsWin", []string{"-c", path, "-addr", "127.0.0.1:7000", "-data", "/flag", "-name", "flag", "-http", ""},
			env{"KILN_ADDR": "127.0.0.1:6000", "KILN_DATA": "/env", "KILN_NAME": "env", "KILN_HTTP": "127.0.0.1:6001"},
			"127.0.0.1:7000", "/flag", "flag", "", "file-token"},
		{"EmptyEnvIgnored", []string{"-c", path}, env{"KILN_ADDR": ""},
			"127.0.0.1:5000", "/file/data", "from-file", "127.0.0.1:5001", "file-token"},
		{"NoFile", nil, nil, "127.0.0.1:4222", "./kiln-data", "", "127.0.0.1:8222", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := serverConfig(tt.args, tt.env.lookup)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{cfg.Server.Listen, cfg.Server.Data, cfg.Server.Name, cfg.HTTP.Listen, cfg.Auth.Token}
			want := []string{tt.listen, tt.data, tt.nm, tt.h, tt.tok}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("listen, data, name, http, token = %q; want %q", got, want)
			}
		})
	}
}

func TestServerConfig_UserFromEnv(t *testing.T) {
	cfg, err := serverConfig(nil, env{"KILN_AUTH_USER": "app", "KILN_AUTH_PASSWORD": "pw"}.lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Auth.Users) != 1 || cfg.Auth.Users[0] != (server.User{User: "app", Password: "pw"}) {
		t.Errorf("users = %+v; want app/pw", cfg.Auth.Users)
	}
}

// TestServerConfig_Errors: bad configs are usage errors (status 2) whose
// message names where the bad value came from.
func TestServerConfig_Errors(t *testing.T) {
	bad := writeFile(t, "kiln.yaml", "server:\n  listen: 0.0.0.0:4222\n")
	tests := []struct {
		name string
		args []string
		env  env
		want string
	}{
		{"FileBeyondLoopback", []string{"-c", bad}, nil, bad + ": line 2: server.listen: \"0.0.0.0:4222\" listens beyond loopback"},
		{"FlagBeyondLoopback", []string{"-addr", "0.0.0.0:4222"}, nil, "flag -addr: server.listen:"},
		{"EnvBeyondLoopback", nil, env{"KILN_ADDR": "0.0.0.0:4222"}, "env KILN_ADDR: server.listen:"},
		{"PasswordWithoutUser", nil, env{"KILN_AUTH_PASSWORD": "pw"}, "auth.users[0].user: required"},
		{"TokenAndUser", []string{"-c", writeFile(t, "u.yaml", "auth: {users: [{user: a, password: b}]}\n")}, env{"KILN_AUTH_TOKEN": "t"}, "auth.users: set auth.token or auth.users, not both"},
		{"MissingFile", []string{"-c", "/nonexistent/kiln.yaml"}, nil, "/nonexistent/kiln.yaml"},
		{"UnknownField", []string{"-c", writeFile(t, "k.yaml", "server:\n  nme: x\n")}, nil, "line 2: server.nme: unknown field"},
		{"ExtraArgs", []string{"now"}, nil, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := serverConfig(tt.args, tt.env.lookup)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serverConfig(%q) = %v; want a usage error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestRun_ServerBadConfigStatus(t *testing.T) {
	path := writeFile(t, "kiln.yaml", "tls:\n  cert: x.pem\n  key: y.pem\n")
	var stdout, stderr strings.Builder
	code := run(t.Context(), []string{"server", "-c", path}, &stdout, &stderr)
	want := "kiln server: " + path + `: line 2: tls.cert: file "x.pem" not found`
	if code != 2 || !strings.Contains(stderr.String(), want) {
		t.Errorf("kiln server with a missing cert = %d, %q; want 2 and %q", code, stderr.String(), want)
	}
}

// TestRun_Server runs `kiln server` until its context ends, as SIGINT would.
func TestRun_Server(t *testing.T) {
	path := writeFile(t, "kiln.yaml", "server:\n  listen: 127.0.0.1:0\nhttp:\n  listen: \"\"\n")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, lines := pipeLines(t)
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"server", "-c", path, "-data", t.TempDir()}, stdout, os.Stderr)
		stdout.Close()
	}()
	line := waitLine(t, lines, server.ReadyPrefix)
	if !strings.HasPrefix(line, "kiln server ready: nats://127.0.0.1:") || strings.HasSuffix(line, ":0") {
		t.Errorf("ready line %q; want kiln server ready: nats://127.0.0.1:<port>", line)
	}
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("kiln server exited %d after its context ended, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kiln server did not stop within 30s of its context ending")
	}
}
