package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/kilnhq/kiln/internal/testutil"
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
	m := testutil.Scrape(t, p2.url+"/metrics") // the process serves its metrics
	if v, _ := m.Value("kiln_lease_handovers_total"); v != 1 {
		t.Errorf("p2 kiln_lease_handovers_total = %v, want 1 (the session came from p1)", v)
	}
	p1.stop(t)
	p2.stop(t)
}

func TestParseFlags(t *testing.T) {
	noEnv := func(string) string { return "" }
	env := func(k string) string { return map[string]string{envToken: "envtok", envPassword: "envpw"}[k] }
	defaults := options{addr: "127.0.0.1:8081", node: "n1", bucket: "kiln", connectTimeout: 2 * time.Minute}
	with := func(f func(*options)) options { o := defaults; f(&o); return o }
	tests := []struct {
		name   string
		args   []string
		getenv func(string) string
		want   options
	}{
		{"Defaults", nil, noEnv, defaults},
		{"Auth", []string{"-engine", "nats://a:4222,nats://b:4222", "-user", "app", "-password", "pw",
			"-tls-ca", "ca.pem", "-tls-cert", "c.pem", "-tls-key", "k.pem", "-connect-timeout", "5s"}, noEnv,
			with(func(o *options) {
				o.engine, o.user, o.password = "nats://a:4222,nats://b:4222", "app", "pw"
				o.tlsCA, o.tlsCert, o.tlsKey, o.connectTimeout = "ca.pem", "c.pem", "k.pem", 5*time.Second
			})},
		{"IDHeader", []string{"-id-header", "X-Session-Token"}, noEnv, with(func(o *options) { o.idHeader = "X-Session-Token" })},
		{"TokenFlag", []string{"-token", "flagtok"}, env, with(func(o *options) { o.token = "flagtok" })},
		{"NKeySeed", []string{"-nkey-seed", "node.nk"}, noEnv, with(func(o *options) { o.nkeySeed = "node.nk" })},
		{"TokenFromEnv", nil, env, with(func(o *options) { o.token = "envtok" })},
		{"PasswordFromEnv", []string{"-user", "app"}, env,
			with(func(o *options) { o.token, o.user, o.password = "envtok", "app", "envpw" })},
		{"PasswordFlagWins", []string{"-user", "app", "-password", "pw"}, env,
			with(func(o *options) { o.token, o.user, o.password = "envtok", "app", "pw" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, tt.getenv)
			if err != nil || got != tt.want {
				t.Errorf("parseFlags(%q) = %+v, %v; want %+v", tt.args, got, err, tt.want)
			}
		})
	}
}

func TestParseFlags_Errors(t *testing.T) {
	for name, args := range map[string][]string{
		"ExtraArgument":      {"-node", "n2", "serve"},
		"CertWithoutKey":     {"-tls-cert", "c.pem"},
		"KeyWithoutCert":     {"-tls-key", "k.pem"},
		"PasswordNoUser":     {"-password", "pw"},
		"ZeroConnectTimeout": {"-connect-timeout", "0s"},
		"BadDuration":        {"-connect-timeout", "soon"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseFlags(args, func(string) string { return "" }); err == nil {
				t.Errorf("parseFlags(%q) accepted it", args)
			}
		})
	}
}

func TestRedactURLs(t *testing.T) {
	got := redactURLs("nats://s3cret@10.0.0.1:4222, nats://app:pw@10.0.0.2:4222,nats://10.0.0.3:4222")
	want := "nats://redacted@10.0.0.1:4222,nats://redacted@10.0.0.2:4222,nats://10.0.0.3:4222"
	if got != want {
		t.Errorf("redactURLs = %q, want %q", got, want)
	}
}

func TestRedactedError(t *testing.T) {
	err := redactedError{fmt.Errorf("connect nats://s3cret@h:4222,nats://app:pw@h:4223: %w", io.EOF), "nats://s3cret@h:4222, nats://app:pw@h:4223"}
	if got := err.Error(); strings.Contains(got, "s3cret") || strings.Contains(got, "pw") || !errors.Is(err, io.EOF) {
		t.Errorf("redactedError = %q (wraps EOF: %v), want no secrets and EOF kept", got, errors.Is(err, io.EOF))
	}
}

// TestCart_WaitsForServer starts the binary before its server: it must
// retry, say so in its log, and serve once the server is up.
func TestCart_WaitsForServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the cart binary")
	}
	bin := mustBuild(t)
	port := testutil.FreePorts(t, 1)[0]
	p := startProcess(t, bin, "-node", "w1", "-engine", fmt.Sprintf("nats://127.0.0.1:%d", port))
	p.waitStderr(t, "waiting for kiln server at nats://127.0.0.1:", 30*time.Second)

	srv, err := natsengine.StartServer(natsengine.ServerOptions{Port: port, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start NATS server on the port the cart waits for: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	p.url = p.waitListening(t, p.urls)

	add := mustPostCart(t, newJarClient(t), p.url+"/api/cart/add", url.Values{"item": {"pear"}, "qty": {"1"}})
	if add.Items["pear"] != 1 {
		t.Errorf("cart after add = %+v, want 1 pear", add)
	}
	p.stop(t)
}

// TestCart_WrongToken: a server that refuses the credentials makes the
// binary exit at once with a clear message that does not show the secret.
func TestCart_WrongToken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the cart binary")
	}
	bin := mustBuild(t)
	srv, err := natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: t.TempDir(), Token: "right-token"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	p := startProcess(t, bin, "-node", "w1", "-engine", srv.ClientURL(), "-token", "wrong-token-xyz", "-connect-timeout", "1m")
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after its credentials were refused\n%s", p.stderr)
	}
	log := p.stderr.String()
	if p.err == nil || !strings.Contains(log, "refused the credentials") {
		t.Errorf("exit %v, want a failure saying the credentials were refused; stderr:\n%s", p.err, log)
	}
	if strings.Contains(log, "wrong-token-xyz") {
		t.Errorf("the token appears in the log:\n%s", log)
	}
}

// process is a running cart binary.
type process struct {
	cmd    *exec.Cmd
	url    string
	urls   chan string   // the URL of its "listening on" line
	done   chan struct{} // closed when the process has exited
	err    error         // its exit error, once done
	stderr *testutil.LogBuffer
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
	p := startProcess(t, bin, args...)
	p.url = p.waitListening(t, p.urls)
	return p
}

// startProcess starts the binary on a random port; the process is killed
// when the test ends if still running.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), envToken+"=", envPassword+"=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, urls: make(chan string, 1), done: make(chan struct{}), stderr: new(testutil.LogBuffer)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go p.watch(stdout, p.urls)
	t.Cleanup(func() { p.kill(t) })
	return p
}

// waitStderr waits, with a deadline, for the process to log text.
func (p *process) waitStderr(t *testing.T, text string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.stderr.String(), text) {
		select {
		case <-p.done:
			t.Fatalf("process exited (%v) before logging %q\n%s", p.err, text, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("process did not log %q within %s\n%s", text, within, p.stderr)
		}
	}
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
