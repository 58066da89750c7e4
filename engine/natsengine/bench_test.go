package natsengine_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

func benchCommit(b *testing.B, n int, memory bool) {
	srv := natsengine.StartTestServer(b)
	e := MustOpenEngine(b, srv, natsengine.Options{Memory: memory})
	ctx := context.Background()
	ops := make([]engine.Op, n)
	for i := range ops {
		ops[i] = engine.Op{Key: fmt.Sprintf("k.%d", i), Value: make([]byte, 100)}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Commit(ctx, ops...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommit(b *testing.B) {
	for _, mem := range []bool{false, true} {
		for _, n := range []int{1, 2, 5, 50} {
			b.Run(fmt.Sprintf("mem=%v/ops=%d", mem, n), func(b *testing.B) { benchCommit(b, n, mem) })
		}
	}
}

func BenchmarkGet(b *testing.B) {
	srv := natsengine.StartTestServer(b)
	e := MustOpenEngine(b, srv, natsengine.Options{})
	ctx := context.Background()
	mustCommit(b, e, engine.Op{Key: "k", Value: make([]byte, 100)})
	for b.Loop() {
		if _, err := e.Get(ctx, "k"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitShards: single writes of distinct sessions from many
// goroutines, on one server, by shard count.
func BenchmarkCommitShards(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("shards=%d", n), func(b *testing.B) {
			srv := natsengine.StartTestServer(b)
			e := MustOpenEngine(b, srv, natsengine.Options{Shards: n})
			var next atomic.Int64
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprintf("s.k%d.m", next.Add(1))
					if _, err := e.Commit(context.Background(), engine.Op{Key: key, Value: make([]byte, 100)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCreate: the three records of a new session (lease, touch,
// meta; each IfNew with a TTL) from 64 goroutines on 2 cores, as kiln
// writes them (split: lease and touch in parallel, then meta) or as one
// atomic batch. cpu-µs/op is this process's CPU (client and server) per
// session created.
func BenchmarkCreate(b *testing.B) {
	for _, mode := range []string{"split", "batch"} {
		b.Run(mode, func(b *testing.B) {
			srv := natsengine.StartTestServer(b)
			e := MustOpenEngine(b, srv, natsengine.Options{})
			var next atomic.Int64
			ctx := context.Background()
			val := make([]byte, 120)
			cpu0 := processCPU()
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := fmt.Sprintf("k%022d", next.Add(1))
					lease := engine.Op{Key: "l." + k, Value: val[:40], TTL: time.Hour, IfNew: true}
					touch := engine.Op{Key: "t." + k, Value: val[:20], TTL: 30 * time.Minute, IfNew: true}
					meta := engine.Op{Key: "s." + k + ".m", Value: val, TTL: time.Hour, IfNew: true}
					if err := create(ctx, e, mode, lease, touch, meta); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

func create(ctx context.Context, e *natsengine.Engine, mode string, lease, touch, meta engine.Op) error {
	if mode == "batch" {
		_, err := e.Commit(ctx, lease, touch, meta)
		return err
	}
	errc := make(chan error, 1)
	go func() { _, err := e.Commit(ctx, touch); errc <- err }()
	_, err := e.Commit(ctx, lease)
	if err2 := <-errc; err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	_, err = e.Commit(ctx, meta)
	return err
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
