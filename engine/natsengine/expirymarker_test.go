package natsengine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// TestCommit_AroundExpirySweep: on three replicas, keys with a 1s TTL are
// overwritten by compare-and-set with a 60s TTL at moments spread around
// their expiry. nats-server, expiring a value, proposes an expiry marker
// with a subject rollup that also purges a write proposed in between
// (docs/upstream/nats-expiry-marker.md): without a guard, about one in
// six acknowledged writes was later gone. Every acknowledged write must
// be found afterwards; writes after the deadline must fail as conflicts.
func TestCommit_AroundExpirySweep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	c := testutil.StartCluster(t, 3, nil)
	e := MustOpenEngine(t, nil, natsengine.Options{URL: c.URLs(), Replicas: 3, OpTimeout: 3 * time.Second})
	const n = 2000
	acked := sweepRace(t, e, n)
	waitSwept(t, e)
	lost := 0
	for key, rev := range acked {
		got, err := e.Get(context.Background(), key)
		if err != nil || got.Revision != rev {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged write %s at revision %d: Get = %+v, %v", key, rev, got, err)
			}
		}
	}
	t.Logf("%d of %d keys overwritten with an acknowledgement, %d of them lost", len(acked), n, lost)
	if lost > 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
	if len(acked) == 0 {
		t.Error("no write acknowledged: the race was not exercised")
	}
}

// waitSwept writes a key with a 1s TTL and waits for its expiry marker:
// the server expires values in the order of their deadlines, so every
// value written before it has been expired by then, its marker applied.
func waitSwept(t *testing.T, e *natsengine.Engine) {
	t.Helper()
	expired := make(chan struct{}, 1)
	w, err := e.Watch(context.Background(), "sweep.sentinel", func(ev engine.Event) {
		if ev.Kind == engine.EventExpire {
			expired <- struct{}{}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	mustCommit(t, e, engine.Op{Key: "sweep.sentinel", Value: []byte("x"), TTL: time.Second})
	select {
	case <-expired:
	case <-time.After(15 * time.Second):
		t.Fatal("no expiry of the sentinel within 15s")
	}
}

// sweepRace creates n keys with a 1s TTL in batches of 100 (one
// timestamp, one deadline, one server sweep per batch), then overwrites
// each with a compare-and-set at a random moment from 200ms before to
// 400ms after its deadline, and returns the acknowledged ones. Anything
// but success or a conflict fails the test.
func sweepRace(t *testing.T, e *natsengine.Engine, n int) map[string]uint64 {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]uint64{}
	var wg sync.WaitGroup
	for b := 0; b < n; b += 200 {
		var ops []engine.Op
		for i := b; i < min(b+200, n); i++ {
			ops = append(ops, engine.Op{Key: fmt.Sprintf("race.k%04d", i), Value: []byte("short"), TTL: time.Second, IfNew: true})
		}
		revs := mustCommit(t, e, ops...)
		deadline := time.Now().Add(time.Second)
		for i, op := range ops {
			wg.Go(func() {
				time.Sleep(time.Until(deadline.Add(time.Duration(rand.N(600)-200) * time.Millisecond)))
				got, err := e.Commit(context.Background(), engine.Op{Key: op.Key, Value: []byte("long"), TTL: time.Minute, IfRevision: revs[i]})
				switch {
				case err == nil:
					mu.Lock()
					acked[op.Key] = got[0]
					mu.Unlock()
				case !errors.Is(err, engine.ErrConflict):
					t.Errorf("overwrite %s: %v", op.Key, err)
				}
			})
		}
	}
	wg.Wait()
	return acked
}
