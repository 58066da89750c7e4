package lease

import (
	"context"
	"testing"
	"testing/synctest"
	"unsafe"
)

func TestSlotLock_TryLock(t *testing.T) {
	var l slotLock
	if !l.tryLock() {
		t.Fatal("tryLock on a free slot failed")
	}
	if l.tryLock() {
		t.Fatal("tryLock on a held slot succeeded")
	}
	l.unlock()
	if !l.tryLock() {
		t.Fatal("tryLock after unlock failed")
	}
}

// waitInLine starts a lock call on l that records its turn in got, and
// returns once it waits (under synctest).
func waitInLine(ctx context.Context, l *slotLock, name string, got chan<- string) {
	go func() {
		if l.lock(ctx) {
			got <- name
		} else {
			got <- name + " gave up"
		}
	}()
	synctest.Wait()
}

func TestSlotLock_FirstComeFirstServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l slotLock
		l.lock(context.Background())
		got := make(chan string, 3)
		for _, name := range []string{"a", "b", "c"} {
			waitInLine(context.Background(), &l, name, got)
		}
		for _, want := range []string{"a", "b", "c"} {
			l.unlock() // hands the slot to the next in line
			if g := <-got; g != want {
				t.Fatalf("slot went to %s, want %s", g, want)
			}
		}
		l.unlock()
		if !l.tryLock() {
			t.Fatal("slot not free after the last waiter unlocked")
		}
	})
}

func TestSlotLock_WaiterGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l slotLock
		l.lock(context.Background())
		got := make(chan string, 2)
		ctx, cancel := context.WithCancel(context.Background())
		waitInLine(ctx, &l, "a", got)
		waitInLine(context.Background(), &l, "b", got)
		cancel()
		if g := <-got; g != "a gave up" {
			t.Fatalf("got %s, want a to give up", g)
		}
		l.unlock()
		if g := <-got; g != "b" {
			t.Fatalf("slot went to %s, want b", g)
		}
		if l.tryLock() {
			t.Fatal("slot free while b holds it")
		}
	})
}

func TestSlotLock_UnlockFreePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("unlock of a free slot did not panic")
		}
	}()
	var l slotLock
	l.unlock()
}

// TestEntry_Size keeps a cached session's Entry within one allocation
// size class of 128 bytes (BenchmarkNearCache_Memory in the root; its
// request slot was a channel of 112 bytes more).
func TestEntry_Size(t *testing.T) {
	if n := unsafe.Sizeof(Entry{}); n > 128 {
		t.Errorf("Entry is %d bytes, want at most 128", n)
	}
}
