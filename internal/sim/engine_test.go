package sim

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// newTestRun returns a node incarnation on a fresh store, outside a world.
func newTestRun(t *testing.T) (*nodeRun, *memengine.Engine) {
	base := memengine.New(memengine.Options{})
	w := &world{hist: &history{start: time.Now()}}
	n := &nodeRun{slot: &nodeSlot{name: "A"}, w: w, dead: make(chan struct{}), unavailable: map[string]int64{}}
	n.eng = &faultEngine{n: n, inner: base.Peer()}
	t.Cleanup(func() { n.eng.Close(); base.Close() })
	return n, base
}

func put(key string) engine.Op { return engine.Op{Key: key, Value: []byte("v")} }

// TestFaultEngine checks that each store fault does what the schedule
// means by it.
func TestFaultEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		n, base := newTestRun(t)
		cases := []struct {
			a      armed
			key    string
			landed bool
		}{
			{armed{kind: AckLost, class: classTouch}, "t.k1", true},
			{armed{kind: FailBefore, class: classMeta}, "s.k2.m", false},
			{armed{kind: Delay, class: classLease}, "l.k3", false},
			{armed{kind: Delay, class: classLease, late: true}, "l.k4", true},
		}
		for _, c := range cases {
			n.arm(c.a)
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := n.eng.Commit(cctx, put(c.key))
			cancel()
			if !errors.Is(err, engine.ErrUnavailable) {
				t.Errorf("%s: err %v, want ErrUnavailable", c.a, err)
			}
			_, gerr := base.Get(ctx, c.key)
			if landed := gerr == nil; landed != c.landed {
				t.Errorf("%s: landed %v, want %v", c.a, landed, c.landed)
			}
		}
		if _, err := n.eng.Commit(ctx, put("t.k5")); err != nil {
			t.Errorf("unarmed commit: %v", err)
		}
	})
}

// TestFaultEngine_LapseAndKill: liveness writes fail while lapsed, other
// writes go through; a killed node refuses everything.
func TestFaultEngine_LapseAndKill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		n, _ := newTestRun(t)
		n.lapse(time.Now().Add(5 * time.Second))
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := n.eng.Commit(cctx, put("n.A")); !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("liveness write while lapsed: %v", err)
		}
		if _, err := n.eng.Commit(ctx, put("s.k.m")); err != nil {
			t.Errorf("other write while lapsed: %v", err)
		}
		n.kill()
		if _, err := n.eng.Get(ctx, "s.k.m"); !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("get on a dead node: %v", err)
		}
	})
}

// TestFaultEngine_Pause: a paused node's calls wait for the resume, and
// its clock stands still meanwhile.
func TestFaultEngine_Pause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, _ := newTestRun(t)
		clk := nodeClock{n}
		n.pause()
		at := clk.Now()
		done := make(chan error, 1)
		go func() {
			_, err := n.eng.Commit(context.Background(), put("s.k.m"))
			done <- err
		}()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("a paused node's commit returned")
		default:
		}
		if !clk.Now().Equal(at) {
			t.Errorf("paused clock moved: %v -> %v", at, clk.Now())
		}
		n.resume()
		if err := <-done; err != nil {
			t.Errorf("commit after resume: %v", err)
		}
	})
}
