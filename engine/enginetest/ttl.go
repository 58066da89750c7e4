package enginetest

import (
	"errors"
	"testing"

	"github.com/kilnhq/kiln/engine"
)

// testTTL checks per-key TTLs: expiry, sliding, and a write without TTL
// making the key permanent.
func testTTL(t *testing.T, h Harness) {
	parallel(t, "Expires", func(t *testing.T) {
		e := h.open1(t)
		rev := mustPut(t, e, engine.Op{Key: "t.k", Value: []byte("v"), TTL: h.TTL})
		h.Advance(t, h.TTL/2)
		wantEntry(t, e, "t.k", "v", rev)
		waitExpired(t, h, e, "t.k", h.TTL/2)
	})
	parallel(t, "ExpiryLeavesMarker", func(t *testing.T) { testExpiryLeavesMarker(t, h) })
	parallel(t, "WriteSlidesTTL", func(t *testing.T) { testWriteSlidesTTL(t, h) })
	parallel(t, "WriteWithoutTTLIsPermanent", func(t *testing.T) { testWithoutTTLPermanent(t, h) })
	parallel(t, "DeleteMarkerExpires", func(t *testing.T) { testDeleteMarkerExpires(t, h) })
}

// testExpiryLeavesMarker: after expiry the key has a newer revision than
// its last value, and IfNew fails (package doc: "not even ... expiry marker").
func testExpiryLeavesMarker(t *testing.T, h Harness) {
	e := h.open1(t)
	rev := mustPut(t, e, engine.Op{Key: "t.k", Value: []byte("v"), TTL: h.TTL})
	waitExpired(t, h, e, "t.k", h.TTL)
	_, err := e.Commit(t.Context(), engine.Op{Key: "t.k", Value: []byte("2"), IfRevision: rev})
	wantErr(t, err, engine.ErrConflict, "Commit IfRevision=expired value")
	_, err = e.Commit(t.Context(), engine.Op{Key: "t.k", Value: []byte("2"), IfNew: true})
	wantErr(t, err, engine.ErrConflict, "Commit IfNew just after expiry")
	wantNotFound(t, e, "t.k")
}

// testWriteSlidesTTL: a conditional rewrite with a TTL at ttl/2 moves the
// expiry to ttl after the rewrite.
func testWriteSlidesTTL(t *testing.T, h Harness) {
	ttl := 2 * h.TTL
	e := h.open1(t)
	r1 := mustPut(t, e, engine.Op{Key: "t.k", Value: []byte("1"), TTL: ttl})
	h.Advance(t, ttl/2)
	r2 := mustPut(t, e, engine.Op{Key: "t.k", Value: []byte("2"), TTL: ttl, IfRevision: r1})
	h.Advance(t, ttl*3/4) // past the first expiry, before the second
	wantEntry(t, e, "t.k", "2", r2)
	waitExpired(t, h, e, "t.k", ttl/4)
}

// testWithoutTTLPermanent: a write (value or delete) without TTL after a
// TTL'd one makes the key permanent.
func testWithoutTTLPermanent(t *testing.T, h Harness) {
	ttl := 2 * h.TTL
	e := h.open1(t)
	mustCommit(t, e,
		engine.Op{Key: "t.v", Value: []byte("1"), TTL: ttl},
		engine.Op{Key: "t.d", Value: []byte("1"), TTL: ttl})
	h.Advance(t, ttl/2)
	revs := mustCommit(t, e, put("t.v", "2"), engine.Op{Key: "t.d", Delete: true})
	h.Advance(t, ttl) // half a TTL past the first expiry
	wantEntry(t, e, "t.v", "2", revs[0])
	_, err := e.Commit(t.Context(), engine.Op{Key: "t.d", Value: []byte("x"), IfNew: true})
	wantErr(t, err, engine.ErrConflict, "Commit IfNew over a permanent delete marker")
}

// testDeleteMarkerExpires: a delete with TTL leaves a marker that blocks
// IfNew until the TTL runs out.
func testDeleteMarkerExpires(t *testing.T, h Harness) {
	e := h.open1(t)
	mustPut(t, e, put("t.k", "1"))
	mustPut(t, e, engine.Op{Key: "t.k", Delete: true, TTL: h.TTL})
	ifNew := engine.Op{Key: "t.k", Value: []byte("2"), IfNew: true}
	_, err := e.Commit(t.Context(), ifNew)
	wantErr(t, err, engine.ErrConflict, "Commit IfNew over a live delete marker")
	h.Advance(t, h.TTL+h.TTL/4)
	var last error
	eventually(t, waitFor, "IfNew to succeed once the delete marker expired", func() bool {
		_, last = e.Commit(t.Context(), ifNew)
		return last == nil || !errors.Is(last, engine.ErrConflict)
	})
	if last != nil {
		t.Fatalf("Commit IfNew after marker expiry: %v", last)
	}
	mustGet(t, e, "t.k")
}
