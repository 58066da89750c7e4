// Package e2e holds kiln's end-to-end tests: they build the real kiln and
// cart binaries once, start them as separate processes on loopback ports,
// kill and restart them, and check what clients were acknowledged against
// what the cluster holds afterwards. They take a minute or two and are
// skipped with -short.
package e2e

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/testutil"
)

// bins are the binaries TestMain built: kiln and cart.
var bins struct {
	kiln, cart string
}

// Bounds of the harness's waits.
const (
	startTimeout = 30 * time.Second // for a process to say it is ready
	stopTimeout  = 10 * time.Second // for a process to exit after SIGTERM
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips itself
	}
	dir, err := os.MkdirTemp("", "kiln-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds the kiln and cart binaries into dir, from the module root.
func build(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/kiln", "./examples/cart")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	bins.kiln, bins.cart = filepath.Join(dir, "kiln"), filepath.Join(dir, "cart")
	return nil
}

// needBinaries skips the test with -short.
func needBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the kiln and cart binaries")
	}
}

// proc is a running process whose stdout and stderr go to files in the
// test's temporary directory; they are printed if the test fails.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout *testutil.LogBuffer // what it printed to stdout so far
	errLog string              // path of its stderr file
	done   chan struct{}
	err    error // its exit error, once done is closed
}

// start starts bin with args and env (added to the environment). The
// process is stopped (SIGTERM, then SIGKILL) when the test ends.
func start(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	outFile, err := os.Create(filepath.Join(dir, name+".stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errFile, err := os.Create(filepath.Join(dir, name+".stderr"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, stdout: new(testutil.LogBuffer), errLog: errFile.Name(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir // whatever it writes by default lands in the test's directory
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = io.MultiWriter(outFile, p.stdout)
	p.cmd.Stderr = errFile
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		outFile.Close()
		errFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stopQuietly(t)
		if t.Failed() {
			keepLogs(t, outFile.Name(), errFile.Name())
			t.Logf("--- %s (%s) stdout:\n%s--- %s stderr:\n%s", name, strings.Join(args, " "), tail(p.stdout.String()), name, tail(p.stderrText()))
		}
	})
	return p
}

// keepLogs copies a failed test's process logs to $KILN_E2E_LOGS, if set,
// where they outlive the test's temporary directory.
func keepLogs(t *testing.T, files ...string) {
	dir := os.Getenv("KILN_E2E_LOGS")
	if dir == "" {
		return
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("keep logs: %v", err)
		return
	}
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
		}
	}
	t.Logf("logs kept in %s", dir)
}

// tail is the end of a long log.
func tail(s string) string {
	const max = 12 << 10
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}

func (p *proc) stderrText() string {
	b, _ := os.ReadFile(p.errLog)
	return string(b)
}

// waitLine waits for a stdout line starting with prefix and returns the
// rest of it.
func (p *proc) waitLine(t *testing.T, prefix string, within time.Duration) string {
	t.Helper()
	var rest string
	found := func() bool {
		for line := range strings.Lines(p.stdout.String()) {
			if r, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), prefix); ok {
				rest = r
				return true
			}
		}
		return false
	}
	p.waitFor(t, found, fmt.Sprintf("a stdout line %q", prefix), within)
	return rest
}

// waitFor polls found until it is true; it fails the test if the process
// exits first or within passes.
func (p *proc) waitFor(t *testing.T, found func() bool, what string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !found() {
		select {
		case <-p.done:
			if found() {
				return
			}
			t.Fatalf("%s exited (%v) before printing %s", p.name, p.err, what)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %s within %s", p.name, what, within)
		}
	}
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to within for the process to exit and returns its exit
// code.
func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("%s still running after %s", p.name, within)
		return 0
	}
}

// stop sends SIGTERM and expects a clean exit (status 0) within
// stopTimeout; past that it kills the process and fails the test.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !p.exited() {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s: exit after SIGTERM: %v", p.name, p.err)
		}
	case <-time.After(stopTimeout):
		p.kill9(t)
		t.Errorf("%s: no exit %s after SIGTERM; killed it", p.name, stopTimeout)
	}
}

// stopQuietly is stop for cleanup: whatever happens, the process is gone
// afterwards.
func (p *proc) stopQuietly(t *testing.T) {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Logf("%s: no exit %s after SIGTERM; killing it", p.name, stopTimeout)
		p.kill9(t)
	}
}

// kill9 kills the process with SIGKILL and waits for it to be gone.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil && !p.exited() {
		t.Fatalf("kill -9 %s: %v", p.name, err)
	}
	<-p.done
}

// newClient is an HTTP client with a cookie jar of its own (so its own
// session) and a bounded timeout.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// eventually polls f every 50ms until it returns nil; past within it fails
// the test with f's last error. It returns how long it took.
func eventually(t *testing.T, within time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	begin := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return time.Since(begin)
		}
		if time.Since(begin) > within {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		<-tick.C
	}
}
