package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestRun_Help(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"-h"}, {"--help"}} {
		var stdout, stderr strings.Builder
		code := run(t.Context(), args, &stdout, &stderr)
		if code != 0 || !strings.Contains(stdout.String(), "  demo ") {
			t.Errorf("run(%q) = %d, stdout %q; want 0 and the command list", args, code, stdout.String())
		}
	}
}

func TestRun_Version(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run(t.Context(), []string{"version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "kiln ") {
		t.Errorf("kiln version = %d, %q; want 0 and 'kiln <version> <go>'", code, stdout.String())
	}
}

func TestRun_Errors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"UnknownCommand", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"ServerBadFlag", []string{"server", "-colour", "red"}, 2, "colour"},
		{"ServerMissingConfig", []string{"server", "-c", "/nonexistent/kiln.yaml"}, 2, "/nonexistent/kiln.yaml"},
		{"VersionArgs", []string{"version", "x"}, 2, "no arguments"},
		{"DemoZeroNodes", []string{"demo", "-nodes", "0"}, 2, "-nodes 0"},
		{"DemoTenNodes", []string{"demo", "-nodes", "10"}, 2, "-nodes 10"},
		{"DemoBadFlag", []string{"demo", "-colour", "red"}, 2, "colour"},
		{"DemoExtraArg", []string{"demo", "now"}, 2, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.stderr)
			}
		})
	}
}

// TestRun_Demo runs `kiln demo` until its context ends, as SIGINT would.
func TestRun_Demo(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, lines := pipeLines(t)
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"demo", "-addr", "127.0.0.1:0", "-console-addr", "127.0.0.1:0", "-nodes", "2"}, stdout, io.Discard)
		stdout.Close()
	}()

	proxy := strings.TrimPrefix(waitLine(t, lines, "kiln demo: "), "kiln demo: ")
	resp, err := http.Get(proxy + "/api/cart")
	if err != nil {
		t.Fatalf("GET through the demo's proxy: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Kiln-Node") == "" {
		t.Errorf("GET %s/api/cart = %d, node %q; want 200 from a node", proxy, resp.StatusCode, resp.Header.Get("X-Kiln-Node"))
	}
	checkDemoConsole(t, waitLine(t, lines, "  console  "))
	waitLine(t, lines, "Press Ctrl-C")
	cancel()

	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("kiln demo exited %d after its context ended, want 0", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("kiln demo did not stop within 15s of its context ending")
	}
}

// pipeLines returns a writer and the lines written to it.
func pipeLines(t *testing.T) (io.WriteCloser, <-chan string) {
	t.Helper()
	pr, pw := io.Pipe()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { pr.Close() })
	return pw, lines
}

// waitLine returns the first line starting with prefix, failing after 30s.
func waitLine(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended without a line starting %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line starting %q within 30s", prefix)
		}
	}
}

// checkDemoConsole logs in to the console that line ("  console  URL  user
// U  password P") names, with the credentials it prints.
func checkDemoConsole(t *testing.T, line string) {
	t.Helper()
	f := strings.Fields(line)
	if len(f) != 6 || f[2] != "user" || f[4] != "password" {
		t.Fatalf("console line %q: want \"console URL user U password P\"", line)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := hc.PostForm(f[1]+"login", url.Values{"user": {f[3]}, "password": {f[5]}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="nodes"`) {
		t.Fatalf("console login with the printed credentials: status %d:\n%s", resp.StatusCode, body)
	}
}
