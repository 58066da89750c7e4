package clock

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestFake_AdvanceFiresInOrder(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	var got []int
	c.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	c.AfterFunc(time.Second, func() { got = append(got, 1) })
	stopped := c.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	c.AfterFunc(time.Second, func() { got = append(got, 11) })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop: want true once, then false")
	}
	c.Advance(2 * time.Second)
	if len(got) != 2 || got[0] != 1 || got[1] != 11 {
		t.Fatalf("after 2s fired %v, want [1 11]", got)
	}
	c.AfterFunc(0, func() { got = append(got, 0) })
	c.Advance(time.Second)
	if len(got) != 4 || got[2] != 0 || got[3] != 3 || !c.Now().Equal(time.Unix(3, 0)) {
		t.Fatalf("after 3s fired %v at %v", got, c.Now())
	}
}

func TestWithTimeout_EndsOnTheClock(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	ctx, cancel := WithTimeout(context.Background(), c, time.Second)
	defer cancel()
	c.Advance(999 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatalf("ended before its time: %v", ctx.Err())
	}
	c.Advance(time.Millisecond)
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Fatalf("cause = %v, want DeadlineExceeded", context.Cause(ctx))
	}
}

func TestSleep_ReturnsOnAdvance(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	done := make(chan bool)
	go func() { done <- Sleep(context.Background(), c, time.Second) }()
	for c.Pending() == 0 {
		runtime.Gosched()
	}
	c.Advance(time.Second)
	if !<-done {
		t.Fatal("Sleep reported its context ended")
	}
}
