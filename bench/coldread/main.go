// Command coldread measures what engine calls cost on records that were
// not touched recently, with many live sessions in the bucket: it fills a
// NATS engine with N sessions' records in kiln's key shapes (meta, touch,
// lease: docs/storage.md), restarts the server (so nothing of the fill is
// in its caches, as with records written minutes before), then measures
// latency and server CPU of random Gets and of compare-and-set updates on
// random sessions, and of the same on a small hot set, in one run:
//
//	cd bench && go run ./coldread -n 100000,300000,1000000 -cpuprofile /tmp/cold
//
// The server runs in a child process (as kiln server does, GOGC=50), so
// its CPU is its own. Each step's store is removed when the step ends.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	serveDir := flag.String("serve", "", "internal: run the server process on this store dir")
	ns := flag.String("n", "100000,300000,1000000", "live sessions per step, comma-separated")
	ops := flag.Int("ops", 4000, "random operations per measurement")
	budget := flag.Duration("budget", 60*time.Second, "time bound of each measurement")
	workers := flag.Int("workers", 16, "concurrent callers while measuring")
	prof := flag.String("cpuprofile", "", "write the server's CPU profile of each step's cold Gets to <this>-<n>.prof")
	maxBytes := flag.Int64("maxbytes", 0, "the bucket's MaxBytes (kiln server sets 80% of JetStream's store limit: 8 MB blocks)")
	kinds := flag.String("kinds", "get,get+cas,cas", "operations measured after the head-of-line test, each on a freshly restarted server (\"\": none)")
	base := flag.String("dir", "", "parent of the temporary store dirs (default: the system's)")
	flag.Parse()
	if *serveDir != "" {
		exitOn(serve(*serveDir))
		return
	}
	removeOnSignal()
	for _, s := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		exitOn(err)
		cfg := stepConfig{n: n, ops: *ops, budget: *budget, workers: *workers, base: *base, maxBytes: *maxBytes, kinds: strings.FieldsFunc(*kinds, func(r rune) bool { return r == ',' })}
		if *prof != "" {
			cfg.prof = fmt.Sprintf("%s-%d.prof", *prof, n)
		}
		exitOn(runStep(context.Background(), cfg))
	}
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldread:", err)
		os.Exit(1)
	}
}

// stepDirs are the store dirs of running steps, removed on a signal too;
// servers the running server processes, stopped first.
var stepDirs, servers sync.Map

// removeOnSignal stops the server processes and removes the steps' store dirs when the program is
// interrupted, terminated, or its output is closed (SIGPIPE).
func removeOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	go func() {
		<-ch
		servers.Range(func(c, _ any) bool {
			c.(*child).cmd.Process.Kill()
			c.(*child).cmd.Wait()
			return true
		})
		stepDirs.Range(func(dir, _ any) bool {
			os.RemoveAll(dir.(string))
			return true
		})
		os.Exit(1)
	}()
}
