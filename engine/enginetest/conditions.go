package enginetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/kilnhq/kiln/engine"
)

// testConditions checks IfRevision, IfNew and all-or-nothing commits.
func testConditions(t *testing.T, h Harness) {
	parallel(t, "IfRevisionMatch", func(t *testing.T) {
		e := h.open1(t)
		r1 := mustPut(t, e, put("c.k", "1"))
		r2 := mustPut(t, e, engine.Op{Key: "c.k", Value: []byte("2"), IfRevision: r1})
		wantEntry(t, e, "c.k", "2", r2)
	})
	parallel(t, "IfRevisionMismatch", func(t *testing.T) {
		e := h.open1(t)
		r1 := mustPut(t, e, put("c.k", "1"))
		r2 := mustPut(t, e, put("c.k", "2"))
		_, err := e.Commit(t.Context(), engine.Op{Key: "c.k", Value: []byte("3"), IfRevision: r1})
		wantErr(t, err, engine.ErrConflict, "Commit IfRevision=stale")
		wantEntry(t, e, "c.k", "2", r2)
	})
	parallel(t, "IfRevisionMissingKey", func(t *testing.T) {
		e := h.open1(t)
		other := mustPut(t, e, put("c.other", "x"))
		_, err := e.Commit(t.Context(), engine.Op{Key: "c.k", Value: []byte("1"), IfRevision: other})
		wantErr(t, err, engine.ErrConflict, "Commit IfRevision on missing key")
		wantNotFound(t, e, "c.k")
	})
	parallel(t, "IfRevisionDeleteMarker", func(t *testing.T) { testIfRevisionDeleteMarker(t, h) })
	parallel(t, "IfRevisionOnDelete", func(t *testing.T) { testIfRevisionOnDelete(t, h) })
	parallel(t, "IfNewFresh", func(t *testing.T) {
		e := h.open1(t)
		rev := mustPut(t, e, engine.Op{Key: "c.new", Value: []byte("v"), IfNew: true})
		wantEntry(t, e, "c.new", "v", rev)
	})
	parallel(t, "IfNewExisting", func(t *testing.T) {
		e := h.open1(t)
		rev := mustPut(t, e, put("c.k", "1"))
		_, err := e.Commit(t.Context(), engine.Op{Key: "c.k", Value: []byte("2"), IfNew: true})
		wantErr(t, err, engine.ErrConflict, "Commit IfNew on existing key")
		wantEntry(t, e, "c.k", "1", rev)
	})
	parallel(t, "IfNewDeleted", func(t *testing.T) {
		e := h.open1(t)
		mustPut(t, e, put("c.k", "1"))
		mustPut(t, e, engine.Op{Key: "c.k", Delete: true})
		_, err := e.Commit(t.Context(), engine.Op{Key: "c.k", Value: []byte("2"), IfNew: true})
		wantErr(t, err, engine.ErrConflict, "Commit IfNew on deleted key")
		wantNotFound(t, e, "c.k")
	})
	parallel(t, "AllOrNothing", func(t *testing.T) { testAllOrNothing(t, h) })
	parallel(t, "ConcurrentCompareAndSet", func(t *testing.T) { testConcurrentCAS(t, h) })
}

// testIfRevisionDeleteMarker: a delete's revision is the key's latest
// revision, so a CAS against the value it replaced fails.
func testIfRevisionDeleteMarker(t *testing.T, h Harness) {
	e := h.open1(t)
	r1 := mustPut(t, e, put("c.k", "1"))
	del := mustPut(t, e, engine.Op{Key: "c.k", Delete: true})
	_, err := e.Commit(t.Context(), engine.Op{Key: "c.k", Value: []byte("2"), IfRevision: r1})
	wantErr(t, err, engine.ErrConflict, "Commit IfRevision=value before delete")
	wantNotFound(t, e, "c.k")
	r3 := mustPut(t, e, engine.Op{Key: "c.k", Value: []byte("3"), IfRevision: del})
	wantEntry(t, e, "c.k", "3", r3)
}

// testIfRevisionOnDelete: a conditional delete obeys its condition.
func testIfRevisionOnDelete(t *testing.T, h Harness) {
	e := h.open1(t)
	r1 := mustPut(t, e, put("c.k", "1"))
	r2 := mustPut(t, e, put("c.k", "2"))
	_, err := e.Commit(t.Context(), engine.Op{Key: "c.k", Delete: true, IfRevision: r1})
	wantErr(t, err, engine.ErrConflict, "Delete IfRevision=stale")
	wantEntry(t, e, "c.k", "2", r2)
	mustPut(t, e, engine.Op{Key: "c.k", Delete: true, IfRevision: r2})
	wantNotFound(t, e, "c.k")
}

// testAllOrNothing: one failing condition leaves every key of the commit
// as it was, whichever op it is on.
func testAllOrNothing(t *testing.T, h Harness) {
	e := h.open1(t)
	ra := mustPut(t, e, put("c.a", "a1"))
	rb := mustPut(t, e, put("c.b", "b1"))
	_, err := e.Commit(t.Context(),
		put("c.a", "a2"),
		engine.Op{Key: "c.b", Value: []byte("b2"), IfRevision: rb + 1000},
	)
	wantErr(t, err, engine.ErrConflict, "Commit with failing second op")
	_, err = e.Commit(t.Context(),
		engine.Op{Key: "c.a", Delete: true},
		put("c.fresh", "f"),
		engine.Op{Key: "c.b", Value: []byte("b3"), IfNew: true},
	)
	wantErr(t, err, engine.ErrConflict, "Commit with failing IfNew")
	wantEntry(t, e, "c.a", "a1", ra)
	wantEntry(t, e, "c.b", "b1", rb)
	wantNotFound(t, e, "c.fresh")
}

// testConcurrentCAS: of many clients racing to update the same revision,
// exactly one wins.
func testConcurrentCAS(t *testing.T, h Harness) {
	c := h.open(t, 2)
	r1 := mustPut(t, c[0], put("c.race", "0"))
	const racers = 10
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			op := engine.Op{Key: "c.race", Value: []byte{byte('a' + i)}, IfRevision: r1}
			_, errs[i] = c[i%2].Commit(t.Context(), op)
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, engine.ErrConflict):
			t.Errorf("racer %d: err = %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d racers won, want exactly 1", wins)
	}
}
