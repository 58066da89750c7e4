package enginetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/engine"
)

// badKeys are malformed keys every engine refuses.
var badKeys = []string{
	"", ".", "a.", ".a", "a..b", "a b", "a/b", "a*", "a.*", "a.>", "ä", "a\nb",
	strings.Repeat("k", engine.MaxKeyLen+1),
}

// badPatterns are malformed patterns.
var badPatterns = []string{"", "a..b", "a.>.b", "a b", ">>", "a.*x"}

// ignoreExpiry is an OnExpire handler that does nothing.
func ignoreExpiry(context.Context, string) error { return nil }

// testInvalid checks ErrInvalid and ErrTooLarge.
func testInvalid(t *testing.T, h Harness) {
	parallel(t, "BadKeys", func(t *testing.T) { testBadKeys(t, h) })
	parallel(t, "BadKeyWritesNothing", func(t *testing.T) {
		e := h.open1(t)
		_, err := e.Commit(t.Context(), put("i.good", "v"), put("i..bad", "v"))
		wantErr(t, err, engine.ErrInvalid, "Commit with a bad key")
		wantNotFound(t, e, "i.good")
	})
	parallel(t, "DuplicateKey", func(t *testing.T) {
		e := h.open1(t)
		_, err := e.Commit(t.Context(), put("i.dup", "1"), put("i.other", "x"), put("i.dup", "2"))
		wantErr(t, err, engine.ErrInvalid, "Commit with a key twice")
		_, err = e.Commit(t.Context(), put("i.dup", "1"), engine.Op{Key: "i.dup", Delete: true})
		wantErr(t, err, engine.ErrInvalid, "Commit with put and delete of one key")
		wantNotFound(t, e, "i.dup")
		wantNotFound(t, e, "i.other")
	})
	parallel(t, "LongestKey", func(t *testing.T) {
		e := h.open1(t)
		key := "i." + strings.Repeat("k", engine.MaxKeyLen-2)
		rev := mustPut(t, e, put(key, "v"))
		wantEntry(t, e, key, "v", rev)
	})
	parallel(t, "BadPatterns", func(t *testing.T) { testBadPatterns(t, h) })
	parallel(t, "BadSubjects", func(t *testing.T) { testBadSubjects(t, h) })
	parallel(t, "TooLarge", func(t *testing.T) { testTooLarge(t, h) })
}

func testBadKeys(t *testing.T, h Harness) {
	e := h.open1(t)
	for _, k := range badKeys {
		_, err := e.Get(t.Context(), k)
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("Get(%q)", k))
		_, err = e.Commit(t.Context(), put(k, "v"))
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("Commit put %q", k))
		_, err = e.Commit(t.Context(), engine.Op{Key: k, Delete: true})
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("Commit delete %q", k))
	}
}

func testBadPatterns(t *testing.T, h Harness) {
	e := h.open1(t)
	for _, p := range badPatterns {
		_, err := e.Watch(t.Context(), p, func(engine.Event) {})
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("Watch(%q)", p))
		_, err = e.OnExpire(t.Context(), "g", p, ignoreExpiry)
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("OnExpire(%q)", p))
	}
	for _, g := range []string{"", "a b", "a.b", "a*"} {
		_, err := e.OnExpire(t.Context(), g, "a.>", ignoreExpiry)
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("OnExpire group %q", g))
	}
}

func testBadSubjects(t *testing.T, h Harness) {
	e := h.open1(t)
	for _, s := range []string{"", "a..b", "a b", "a.", "a.>"} {
		err := e.Publish(t.Context(), s, nil)
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("Publish(%q)", s))
		_, err = e.Request(t.Context(), s, nil)
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("Request(%q)", s))
	}
	for _, s := range []string{"", "a..b", "a b", "a."} {
		_, err := e.Subscribe(s, "", func(*engine.Msg) {})
		wantErr(t, err, engine.ErrInvalid, fmt.Sprintf("Subscribe(%q)", s))
	}
}

// testTooLarge: a commit past the engine's cap is refused whole; one at
// the cap is accepted.
func testTooLarge(t *testing.T, h Harness) {
	if h.MaxOps <= 0 {
		t.Skip("Harness.MaxOps not set")
	}
	e := h.open1(t)
	ops := make([]engine.Op, h.MaxOps+1)
	for i := range ops {
		ops[i] = put(fmt.Sprintf("i.big.k%d", i), "v")
	}
	_, err := e.Commit(t.Context(), ops...)
	wantErr(t, err, engine.ErrTooLarge, fmt.Sprintf("Commit of %d ops", len(ops)))
	wantNotFound(t, e, ops[0].Key)
	revs := mustCommit(t, e, ops[:h.MaxOps]...)
	wantEntry(t, e, ops[h.MaxOps-1].Key, "v", revs[h.MaxOps-1])
}
