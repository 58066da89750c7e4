package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestCart_TwoProcesses builds the real binary, runs two nodes of it
// against one NATS server and moves a session from one to the other.
func TestCart_TwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the cart binary")
	}
	bin := mustBuild(t)
	srv := natsengine.StartTestServer(t)
	p1 := mustStartProcess(t, bin, "-node", "p1", "-engine", srv.ClientURL())
	p2 := mustStartProcess(t, bin, "-node", "p2", "-engine", srv.ClientURL())
	hc := newJarClient(t)

	add := mustPostCart(t, hc, p1.url+"/api/cart/add", url.Values{"item": {"apple"}, "qty": {"3"}})
	got := mustGetCart(t, hc, p2.url+"/api/cart")

	if add.Node != "p1" || got.Node != "p2" {
		t.Errorf("served by %q then %q, want p1 then p2", add.Node, got.Node)
	}
	if got.Items["apple"] != 3 || got.Session == "" || got.Session != add.Session {
		t.Errorf("p2 sees %+v, want p1's session %q with 3 apples", got, add.Session)
	}
	p1.stop(t)
	p2.stop(t)
}

func TestParseFlags(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		got, err := parseFlags(nil)
		want := options{addr: "127.0.0.1:8081", node: "n1", bucket: "kiln"}
		if err != nil || got != want {
			t.Errorf("parseFlags() = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("ExtraArgument", func(t *testing.T) {
		if _, err := parseFlags([]string{"-node", "n2", "serve"}); err == nil {
			t.Error("parseFlags accepted a stray argument")
		}
	})
}

// process is a running cart binary.
type process struct {
	cmd    *exec.Cmd
	url    string
	done   chan struct{} // closed when the process has exited
	err    error         // its exit error, once done
	stderr *syncBuffer
}

// syncBuffer is a strings.Builder safe to read while the process writes.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mustBuild(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "cart")
	out, err := exec.CommandContext(t.Context(), gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// mustStartProcess starts the binary on a random port and waits until it
// listens; the process is killed when the test ends if still running.
func mustStartProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{}), stderr: new(syncBuffer)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	urls := make(chan string, 1)
	go p.watch(stdout, urls)
	t.Cleanup(func() { p.kill(t) })
	p.url = p.waitListening(t, urls)
	return p
}

// watch reads the process's stdout, reports the URL of its "listening on"
// line, then waits for the process to exit.
func (p *process) watch(stdout io.Reader, urls chan<- string) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			select {
			case urls <- u:
			default:
			}
		}
	}
	p.err = p.cmd.Wait()
	close(p.done)
}

// waitListening waits, with a deadline, for the process to print its URL
// and answer on it.
func (p *process) waitListening(t *testing.T, urls <-chan string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	select {
	case u := <-urls:
		mustAnswer(t, u+"/api/cart", deadline)
		return u
	case <-p.done:
		t.Fatalf("process exited before listening: %v\n%s", p.err, p.stderr)
	case <-deadline:
		t.Fatalf("process did not listen within 30s\n%s", p.stderr)
	}
	return ""
}

// mustAnswer polls u until it answers 200 or the deadline passes.
func mustAnswer(t *testing.T, u string, deadline <-chan time.Time) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-deadline:
			t.Fatalf("%s did not answer 200: %v", u, err)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and expects a clean exit within 10s.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", p.err, p.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("no exit 10s after SIGTERM; killing it\n%s", p.stderr)
		p.kill(t)
	}
}

// kill kills the process if it still runs and waits for it.
func (p *process) kill(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Logf("kill: %v", err)
	}
	<-p.done
}

// cartJSON mirrors the app's cart answer.
type cartJSON struct {
	Node    string         `json:"node"`
	Session string         `json:"session"`
	Items   map[string]int `json:"items"`
}

func newJarClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func mustPostCart(t *testing.T, hc *http.Client, u string, form url.Values) cartJSON {
	t.Helper()
	resp, err := hc.PostForm(u, form)
	return mustCart(t, u, resp, err)
}

func mustGetCart(t *testing.T, hc *http.Client, u string) cartJSON {
	t.Helper()
	resp, err := hc.Get(u)
	return mustCart(t, u, resp, err)
}

func mustCart(t *testing.T, u string, resp *http.Response, err error) cartJSON {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	defer resp.Body.Close()
	var c cartJSON
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatalf("%s: decode: %v", u, err)
	}
	return c
}
