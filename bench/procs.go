package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs tracks every process the benchmark starts, so that all of them are
// stopped by PID on the way out, also on error or interrupt.
type procs struct {
	mu   sync.Mutex // guards list
	list []*exec.Cmd
}

func (p *procs) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.mu.Lock()
	p.list = append(p.list, cmd)
	p.mu.Unlock()
	return nil
}

// stopAll sends SIGTERM to each started process, waits up to 5s, then kills.
func (p *procs) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.list {
		stopOne(c)
	}
	p.list = nil
}

func stopOne(c *exec.Cmd) {
	_ = c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
}

// freePort returns a loopback port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// buildKiln builds the kiln command of the parent module into dir, in that
// module (with its own go.mod and go.sum), as `go build -o DIR/kiln ./cmd/kiln`.
func buildKiln(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "kiln")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kiln")
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build kiln: %w", err)
	}
	return bin, nil
}

// startKilnServer starts `kiln server` on a free loopback port and returns
// its URL once it prints that it is ready.
func (p *procs) startKilnServer(bin, dataDir string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin, "server", "-addr", "127.0.0.1:0", "-data", dataDir, "-http", "")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = nil // its log lines are not wanted in the report
	if err := p.start(cmd); err != nil {
		return nil, "", fmt.Errorf("start kiln server: %w", err)
	}
	url, err := waitLine(out, "kiln server ready: ", 30*time.Second)
	if err != nil {
		return nil, "", fmt.Errorf("kiln server: %w", err)
	}
	return cmd, url, nil
}

// startKilnServerConfig starts `kiln server -c cfg`, its log to logPath,
// and returns it with its stdout, for waitLine.
func (p *procs) startKilnServerConfig(bin, cfg, logPath string) (*exec.Cmd, io.Reader, error) {
	cmd := exec.Command(bin, "server", "-c", cfg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd.Stderr = logFile
	if err := p.start(cmd); err != nil {
		return nil, nil, fmt.Errorf("start kiln server: %w", err)
	}
	return cmd, out, nil
}

// waitLine reads r until a line starting with prefix, returning the rest.
func waitLine(r interface{ Read([]byte) (int, error) }, prefix string, d time.Duration) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				found <- rest
				break
			}
		}
		for sc.Scan() { // keep the pipe drained
		}
		close(found)
	}()
	select {
	case s, ok := <-found:
		if !ok {
			return "", errors.New("exited before it was ready")
		}
		return s, nil
	case <-time.After(d):
		return "", fmt.Errorf("not ready after %s", d)
	}
}

// ensureRedis finds redis-server, installing Debian's package when running
// as root and it is missing.
func ensureRedis() (string, error) {
	if path, err := exec.LookPath("redis-server"); err == nil {
		return path, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("redis-server not found: install it (Debian: apt-get install redis-server) and run again")
	}
	fmt.Fprintln(os.Stderr, "bench: redis-server is missing; installing it: apt-get update && apt-get install -y redis-server")
	for _, args := range [][]string{{"update"}, {"install", "-y", "redis-server"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	return exec.LookPath("redis-server")
}

// startRedis starts a throwaway redis-server (no persistence) on a free
// loopback port and waits until it accepts connections.
func (p *procs) startRedis(bin, dir string) (*exec.Cmd, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes")
	if err := p.start(cmd); err != nil {
		return nil, "", fmt.Errorf("start redis-server: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd, addr, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, "", fmt.Errorf("redis-server on %s did not come up", addr)
}
