package enginetest

import (
	"fmt"
	"testing"

	"github.com/kilnhq/kiln/engine"
)

// testStore checks Get and Commit without conditions.
func testStore(t *testing.T, h Harness) {
	parallel(t, "GetMissing", func(t *testing.T) {
		wantNotFound(t, h.open1(t), "s.missing")
	})
	parallel(t, "PutGet", func(t *testing.T) {
		e := h.open1(t)
		rev := mustPut(t, e, put("s.a", "v1"))
		if rev == 0 {
			t.Fatal("Commit returned revision 0")
		}
		wantEntry(t, e, "s.a", "v1", rev)
	})
	parallel(t, "EmptyValue", func(t *testing.T) {
		e := h.open1(t)
		rev := mustPut(t, e, engine.Op{Key: "s.empty"})
		wantEntry(t, e, "s.empty", "", rev)
	})
	parallel(t, "RevisionsIncrease", func(t *testing.T) { testRevisionsIncrease(t, h) })
	parallel(t, "CommitReturnsRevisionsInOrder", func(t *testing.T) { testCommitOrder(t, h) })
	parallel(t, "Delete", func(t *testing.T) {
		e := h.open1(t)
		rev := mustPut(t, e, put("s.d", "v"))
		del := mustPut(t, e, engine.Op{Key: "s.d", Delete: true})
		if del <= rev {
			t.Fatalf("delete revision %d not above put revision %d", del, rev)
		}
		wantNotFound(t, e, "s.d")
	})
	parallel(t, "SharedAcrossClients", func(t *testing.T) {
		c := h.open(t, 2)
		rev := mustPut(t, c[0], put("s.shared", "from 0"))
		wantEntry(t, c[1], "s.shared", "from 0", rev)
	})
	parallel(t, "ValueIsCopied", func(t *testing.T) {
		e := h.open1(t)
		v := []byte("orig")
		rev := mustPut(t, e, engine.Op{Key: "s.copy", Value: v})
		copy(v, "XXXX")
		mustGet(t, e, "s.copy").Value[0] = 'Y'
		wantEntry(t, e, "s.copy", "orig", rev)
	})
}

// testRevisionsIncrease: every write, delete included, gives the key a
// higher revision.
func testRevisionsIncrease(t *testing.T, h Harness) {
	e := h.open1(t)
	ops := []engine.Op{put("s.r", "1"), put("s.r", "2"), {Key: "s.r", Delete: true}, put("s.r", "3"), put("s.r", "4")}
	var last uint64
	for i, op := range ops {
		rev := mustPut(t, e, op)
		if rev <= last {
			t.Fatalf("write %d got revision %d, not above %d", i, rev, last)
		}
		last = rev
	}
	wantEntry(t, e, "s.r", "4", last)
}

// testCommitOrder: Commit returns each op's revision in op order.
func testCommitOrder(t *testing.T, h Harness) {
	e := h.open1(t)
	var ops []engine.Op
	for i := range 5 {
		ops = append(ops, put(fmt.Sprintf("s.m%d", i), fmt.Sprint(i)))
	}
	revs := mustCommit(t, e, ops...)
	for i, op := range ops {
		wantEntry(t, e, op.Key, string(op.Value), revs[i])
	}
}
