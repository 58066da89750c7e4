package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
)

const bound = 30 * time.Second

// TestChat_TwoProcesses builds the real binary and runs two nodes of it
// on one NATS server: a message posted on p1 reaches an SSE stream on p2,
// and SIGTERM stops a node cleanly.
func TestChat_TwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chat binary")
	}
	bin := filepath.Join(t.TempDir(), "chat")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := natsengine.StartTestServer(t)
	p1 := startChat(t, bin, "p1", srv.ClientURL())
	p2 := startChat(t, bin, "p2", srv.ClientURL())
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	if resp, err := hc.PostForm(p1.url+"/api/login", url.Values{"user": {"ada"}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("login on p1: %v %v", err, resp)
	}

	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p2.url+"/api/rooms/lobby/events", nil)
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Kiln-Node") != "p2" {
		t.Fatalf("events on p2: %v %v", err, resp)
	}
	defer resp.Body.Close()
	if r, err := hc.PostForm(p1.url+"/api/rooms/lobby/messages", url.Values{"text": {"across processes"}}); err != nil || r.StatusCode != 200 {
		t.Fatalf("post on p1: %v %v", err, r)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m struct {
			Data struct{ User, Text, Node string }
		}
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok && json.Unmarshal([]byte(line), &m) == nil && m.Data.Text != "" {
			if m.Data != (struct{ User, Text, Node string }{"ada", "across processes", "p1"}) {
				t.Errorf("p2's stream got %+v", m.Data)
			}
			break
		}
	}
	if sc.Err() != nil {
		t.Fatalf("reading p2's stream: %v", sc.Err())
	}
	cancel()
	p1.stop(t)
}

type chatProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func startChat(t *testing.T, bin, node, natsURL string) *chatProcess {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-node", node, "-engine", natsURL)
	cmd.Env = append(os.Environ(), envToken+"=", envPassword+"=")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &chatProcess{cmd: cmd, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				urls <- u
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case p.url = <-urls:
	case err := <-p.done:
		t.Fatalf("chat %s exited: %v", node, err)
	case <-time.After(bound):
		t.Fatalf("chat %s did not listen within %s", node, bound)
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *chatProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(bound):
		t.Errorf("no exit within %s of SIGTERM", bound)
	}
}

func TestParseFlags(t *testing.T) {
	env := func(k string) string { return map[string]string{envToken: "tok", envPassword: "pw"}[k] }
	o, err := parseFlags([]string{"-node", "n2", "-user", "app"}, env)
	if err != nil || o.node != "n2" || o.token != "tok" || o.password != "pw" || o.addr != "127.0.0.1:8091" {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"extra"}, {"-connect-timeout", "0s"}} {
		if _, err := parseFlags(bad, env); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}
