package lease

import (
	"context"
	"testing"
	"time"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine/memengine"
)

// TestTable_AcquireHeldArmsNoWait: a request on a session whose lease this
// node holds and whose slot is free takes the slot without arming a wait
// bound (a context and a clock timer): nothing is allocated.
func TestTable_AcquireHeldArmsNoWait(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mem := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { mem.Close() })
	put(t, mem, metaKey(testKey), live)
	tb := mustTable(t, mem, clk, "n1")
	e, err := tb.Acquire(context.Background(), testKey) // obtains the lease
	if err != nil {
		t.Fatal(err)
	}
	tb.Done(e, nil)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		e, err := tb.Acquire(ctx, testKey)
		if err != nil {
			t.Fatal(err)
		}
		tb.Done(e, nil)
	})
	if allocs != 0 {
		t.Fatalf("Acquire of a held lease allocates %v times, want 0", allocs)
	}
}
