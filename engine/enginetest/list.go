package enginetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// testList checks the optional engine.Lister capability; every subtest
// skips when the engine lacks it.
func testList(t *testing.T, h Harness) {
	parallel(t, "Empty", func(t *testing.T) {
		l := lister(t, h.open1(t))
		wantList(t, l, ">", "", 10)
		wantList(t, l, "p.*.a", "", 1)
	})
	parallel(t, "Patterns", func(t *testing.T) { testListPatterns(t, h) })
	parallel(t, "Pagination", func(t *testing.T) { testListPagination(t, h) })
	parallel(t, "After", func(t *testing.T) { testListAfter(t, h) })
	parallel(t, "Deleted", func(t *testing.T) { testListDeleted(t, h) })
	parallel(t, "Expired", func(t *testing.T) { testListExpired(t, h) })
	parallel(t, "MergedAcrossShards", func(t *testing.T) { testListMerged(t, h) })
	parallel(t, "Invalid", func(t *testing.T) { testListInvalid(t, h) })
	parallel(t, "AfterClose", func(t *testing.T) {
		e := h.open1(t)
		l := lister(t, e)
		if err := e.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		_, err := l.List(t.Context(), ">", "", 10)
		wantErr(t, err, engine.ErrClosed, "List after Close")
	})
	parallel(t, "BrokenStoreIsUnavailable", func(t *testing.T) {
		c := h.open(t, 1)
		l := lister(t, c[0])
		mustPut(t, c[0], put("p.u1.a", "v"))
		h.Break(t, c)
		start := time.Now()
		_, err := l.List(timeout(t, 2*time.Second), ">", "", 10)
		wantErr(t, err, engine.ErrUnavailable, "List on a broken store")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("List took %v on a broken store, want about its 2s deadline", d)
		}
	})
}

// lister returns e as an engine.Lister, or skips the test.
func lister(t *testing.T, e engine.Engine) engine.Lister {
	t.Helper()
	l, ok := e.(engine.Lister)
	if !ok {
		t.Skipf("%T does not implement engine.Lister", e)
	}
	return l
}

// mustList lists and fails the test on error.
func mustList(t *testing.T, l engine.Lister, pattern, after string, limit int) []string {
	t.Helper()
	keys, err := l.List(t.Context(), pattern, after, limit)
	if err != nil {
		t.Fatalf("List(%q, %q, %d): %v", pattern, after, limit, err)
	}
	return keys
}

// wantList checks that List returns exactly want.
func wantList(t *testing.T, l engine.Lister, pattern, after string, limit int, want ...string) {
	t.Helper()
	if got := mustList(t, l, pattern, after, limit); !sameKeys(got, want) {
		t.Fatalf("List(%q, %q, %d) = %q, want %q", pattern, after, limit, got, want)
	}
}

// sameKeys compares key lists, nil equal to empty.
func sameKeys(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}

// putEach writes each key with its own Commit (so that keys of different
// shards never share one).
func putEach(t *testing.T, e engine.Engine, keys ...string) {
	t.Helper()
	for _, k := range keys {
		mustPut(t, e, put(k, "v:"+k))
	}
}

// testListPatterns: wildcards select keys, in byte order, as Watch's do;
// another client sees the same keys.
func testListPatterns(t *testing.T, h Harness) {
	c := h.open(t, 2)
	l := lister(t, c[1])
	putEach(t, c[0], "s.x.m", "p.u2.a", "p.u1.b", "p.u1.a", "p.u1.a.deep", "p")
	wantList(t, l, "p.u1.*", "", 10, "p.u1.a", "p.u1.b")
	wantList(t, l, "p.*.a", "", 10, "p.u1.a", "p.u2.a")
	wantList(t, l, "p.>", "", 10, "p.u1.a", "p.u1.a.deep", "p.u1.b", "p.u2.a")
	wantList(t, l, ">", "", 10, "p", "p.u1.a", "p.u1.a.deep", "p.u1.b", "p.u2.a", "s.x.m")
	wantList(t, l, "p.u1.a", "", 10, "p.u1.a")
	wantList(t, l, "*", "", 10, "p")
	wantList(t, l, "q.>", "", 10)
	wantList(t, l, "p.u1.*", "", 1, "p.u1.a")
	mustPut(t, c[0], put("p.u1.a", "rewritten"))
	wantList(t, l, "p.u1.*", "", 10, "p.u1.a", "p.u1.b")
}

// testListPagination: pages of every size walk every key exactly once,
// in order; a short page is the last.
func testListPagination(t *testing.T, h Harness) {
	e := h.open1(t)
	l := lister(t, e)
	var all []string
	for i := range 13 {
		all = append(all, fmt.Sprintf("g.k%02d.v", i))
	}
	putEach(t, e, all...)
	putEach(t, e, "h.k00.v")
	for _, limit := range []int{1, 4, 5, 13, 100} {
		var got []string
		after := ""
		for page := 0; ; page++ {
			if page > len(all)+1 {
				t.Fatalf("limit %d: more than %d pages", limit, page)
			}
			keys := mustList(t, l, "g.>", after, limit)
			if len(keys) > limit {
				t.Fatalf("List(g.>, %q, %d) returned %d keys", after, limit, len(keys))
			}
			got = append(got, keys...)
			if len(keys) < limit {
				break
			}
			after = keys[len(keys)-1]
		}
		if !slices.Equal(got, all) {
			t.Fatalf("pages of %d: got %q, want %q", limit, got, all)
		}
	}
}

// testListAfter: after need not be a key, nor match the pattern.
func testListAfter(t *testing.T, h Harness) {
	e := h.open1(t)
	l := lister(t, e)
	putEach(t, e, "p.u1.a", "p.u1.b", "p.u2.a")
	wantList(t, l, "p.>", "p.u1.a", 10, "p.u1.b", "p.u2.a")
	wantList(t, l, "p.>", "p.u1.aa", 10, "p.u1.b", "p.u2.a")
	wantList(t, l, "p.>", "p.u1", 10, "p.u1.a", "p.u1.b", "p.u2.a")
	wantList(t, l, "p.>", "a b", 10, "p.u1.a", "p.u1.b", "p.u2.a")
	wantList(t, l, "p.>", "p.u2.a", 10)
	wantList(t, l, "p.>", "~", 10)
}

// testListDeleted: deleted keys, with or without a TTL on the delete, are
// not listed; a key written again after its delete is.
func testListDeleted(t *testing.T, h Harness) {
	e := h.open1(t)
	l := lister(t, e)
	putEach(t, e, "d.a", "d.b", "d.c", "d.d")
	mustPut(t, e, engine.Op{Key: "d.b", Delete: true})
	mustPut(t, e, engine.Op{Key: "d.c", Delete: true, TTL: 10 * h.TTL})
	mustPut(t, e, engine.Op{Key: "d.d", Delete: true})
	mustPut(t, e, put("d.d", "again"))
	mustPut(t, e, engine.Op{Key: "d.never", Delete: true})
	wantList(t, l, "d.*", "", 10, "d.a", "d.d")
	wantList(t, l, "d.*", "d.a", 1, "d.d")
}

// testListExpired: a value whose TTL ran out is not listed; a TTL'd
// value still live is.
func testListExpired(t *testing.T, h Harness) {
	e := h.open1(t)
	l := lister(t, e)
	mustPut(t, e, put("e.perm", "v"))
	mustPut(t, e, engine.Op{Key: "e.short", Value: []byte("v"), TTL: h.TTL})
	mustPut(t, e, engine.Op{Key: "e.long", Value: []byte("v"), TTL: 20 * h.TTL})
	wantList(t, l, "e.*", "", 10, "e.long", "e.perm", "e.short")
	h.Advance(t, h.TTL+h.TTL/4)
	want := []string{"e.long", "e.perm"}
	var got []string
	eventually(t, waitFor, "e.short to leave the list", func() bool {
		got = mustList(t, l, "e.*", "", 10)
		return sameKeys(got, want)
	})
	wantNotFound(t, e, "e.short")
}

// testListMerged: keys spread by their second token (over the shards of
// a sharded engine) come back as one sorted list, and pages cross from
// shard to shard.
func testListMerged(t *testing.T, h Harness) {
	e := h.open1(t)
	l := lister(t, e)
	var all []string
	for i := range 24 {
		// Written in descending order; the second token picks the shard.
		all = append(all, fmt.Sprintf("m.t%02d.x", 23-i), fmt.Sprintf("m.t%02d", 23-i))
	}
	putEach(t, e, all...)
	slices.Sort(all)
	wantList(t, l, "m.>", "", 100, all...)
	wantList(t, l, "m.*", "", 3, "m.t00", "m.t01", "m.t02")
	wantList(t, l, "m.>", "m.t10", 3, "m.t10.x", "m.t11", "m.t11.x")
}

// testListInvalid: a malformed pattern or a limit below 1 is ErrInvalid.
func testListInvalid(t *testing.T, h Harness) {
	e := h.open1(t)
	l := lister(t, e)
	mustPut(t, e, put("i.k", "v"))
	for _, p := range slices.Concat(badPatterns, []string{"a.>.>", "a.>b"}) {
		_, err := l.List(t.Context(), p, "", 10)
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("List(%q)", p))
	}
	for _, limit := range []int{0, -1} {
		_, err := l.List(t.Context(), "i.>", "", limit)
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("List limit %d", limit))
	}
}
