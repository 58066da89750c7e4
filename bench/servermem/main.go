// Command servermem creates sessions through kiln on an embedded NATS
// server in this process and writes a heap profile, so that what the
// server keeps per session can be read with `go tool pprof -top
// -focus nats-server`:
//
//	cd bench && go run ./servermem -n 100000 -heap /tmp/server.heap
//
// It prints the creation rate, the stream's messages and bytes, and the
// heap in use before and after (the Manager's near cache is in the same
// heap: focus the profile on the server's frames).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
)

func main() {
	n := flag.Int("n", 100000, "sessions to create")
	workers := flag.Int("workers", 64, "concurrent creators (the bench's users)")
	heap := flag.String("heap", "", "write a heap profile here once the sessions exist")
	cpu := flag.String("cpu", "", "write a CPU profile of the creation here")
	flag.Parse()
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "servermem:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*n, *workers, *heap); err != nil {
		fmt.Fprintln(os.Stderr, "servermem:", err)
		os.Exit(1)
	}
}

func run(n, workers int, heapPath string) error {
	dir, err := os.MkdirTemp("", "servermem")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: dir})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	ctx := context.Background()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: srv.ClientURL(), Name: "servermem"})
	if err != nil {
		return err
	}
	defer eng.Close()
	cfg := kiln.DefaultConfig()
	cfg.Node = "n1"
	m, err := kiln.New(eng, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		c, _, err := kiln.Get[int](s, "counter")
		if err == nil {
			err = s.Put("counter", c+1)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	}))
	heap0 := heapInUse()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	t0, cpu0 := time.Now(), processCPU()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("POST", "/incr", nil))
				if rec.Code != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took, cpu := time.Since(t0), processCPU()-cpu0
	msgs, bytes, err := streamState(ctx, eng)
	if err != nil {
		return err
	}
	heap1 := heapInUse()
	fmt.Printf("created %d sessions (%d failed) in %s: %.0f/s, %.0f CPU µs/session (server, kiln, handler)\n",
		n, failed.Load(), took.Round(time.Millisecond), float64(n)/took.Seconds(), float64(cpu.Microseconds())/float64(n))
	fmt.Printf("stream: %d msgs, %d bytes: %.2f msgs, %.0f B/session\n", msgs, bytes, float64(msgs)/float64(n), float64(bytes)/float64(n))
	fmt.Printf("heap in use (server + kiln client + near cache): %.0f B/session\n", float64(heap1-heap0)/float64(n))
	if heapPath == "" {
		return nil
	}
	f, err := os.Create(heapPath)
	if err != nil {
		return err
	}
	return errorsJoin(pprof.WriteHeapProfile(f), f.Close())
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// processCPU is the user and system CPU this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func streamState(ctx context.Context, eng *natsengine.Engine) (msgs, bytes uint64, err error) {
	js, err := jetstream.New(eng.Conn())
	if err != nil {
		return 0, 0, err
	}
	for name := range js.StreamNames(ctx).Name() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return 0, 0, err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return 0, 0, err
		}
		msgs, bytes = msgs+info.State.Msgs, bytes+info.State.Bytes
	}
	return msgs, bytes, nil
}
