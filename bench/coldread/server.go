package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// serve is the child process: an embedded server on dir, as kiln server
// runs it (its own process, GOGC=50 unless set), that prints its URL and
// then obeys lines on stdin until stdin closes: "prof <path>" and "stop"
// (a CPU profile), "gc" (a collection now), "gcs" (answers "ok <number of
// collections> <heap MB>").
func serve(dir string) error {
	srv, err := natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: dir})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	fmt.Println(srv.ClientURL())
	var prof *os.File
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "prof":
			if prof, err = os.Create(arg); err == nil {
				err = pprof.StartCPUProfile(prof)
			}
		case "stop":
			pprof.StopCPUProfile()
			err = prof.Close()
		case "gc":
			runtime.GC()
		case "gcs":
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Println("ok", ms.NumGC, ms.HeapAlloc>>20)
			continue
		}
		fmt.Println("ok", err)
	}
	return nil
}

// child is a server process started by serve in this binary.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	url string
}

func startChild(dir string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve", dir)
	cmd.Stderr = os.Stderr
	if os.Getenv("GOGC") == "" {
		cmd.Env = append(os.Environ(), "GOGC=50") // as kiln server (cmd/kiln/gc.go)
	}
	c := &child{cmd: cmd}
	if c.in, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.out = bufio.NewScanner(stdout)
	if !c.out.Scan() {
		c.stop()
		return nil, fmt.Errorf("server process gave no URL")
	}
	c.url = c.out.Text()
	servers.Store(c, true)
	return c, nil
}

// do sends one command and waits for its answer.
func (c *child) do(cmd string) error {
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		return err
	}
	if !c.out.Scan() {
		return fmt.Errorf("server process: no answer to %q", cmd)
	}
	if ans := c.out.Text(); ans != "ok <nil>" {
		return fmt.Errorf("server process: %q: %s", cmd, ans)
	}
	return nil
}

// gcs is the server's number of collections so far and its heap in MB.
func (c *child) gcs() (n, heapMB int, err error) {
	if _, err := fmt.Fprintln(c.in, "gcs"); err != nil {
		return 0, 0, err
	}
	if !c.out.Scan() {
		return 0, 0, fmt.Errorf("server process: no answer to gcs")
	}
	_, err = fmt.Sscanf(c.out.Text(), "ok %d %d", &n, &heapMB)
	return n, heapMB, err
}

// cpu is the user+system CPU the server process has used (/proc, Linux).
func (c *child) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	return statCPU(string(b))
}

// statCPU is utime + stime (fields 14 and 15, in clock ticks of 10 ms) of
// a /proc/<pid>/stat line; the command name, field 2, may hold spaces.
func statCPU(stat string) time.Duration {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// rss is the server process's resident memory in bytes.
func (c *child) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// stop closes stdin (the server shuts down cleanly) and waits.
func (c *child) stop() error {
	defer servers.Delete(c)
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		c.cmd.Process.Kill()
		return <-done
	}
}
