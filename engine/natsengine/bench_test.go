package natsengine_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
