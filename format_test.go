package kiln

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/memengine"
)

// format1Meta and format1Attr are the meta record and index entry as
// releases before format 2 define them (records.go at 9495cc2): what a
// node of such a release decodes.
type format1Meta struct {
	Version   uint64                 `cbor:"v"`
	Created   time.Time              `cbor:"c"`
	Deadline  time.Time              `cbor:"d"`
	Principal string                 `cbor:"p,omitempty"`
	MaxIdle   time.Duration          `cbor:"i,omitempty"`
	Remember  bool                   `cbor:"r,omitempty"`
	Attrs     map[string]format1Attr `cbor:"a,omitempty"`
	Ended     DestroyReason          `cbor:"x,omitempty"`
	Pending   bool                   `cbor:"z,omitempty"`
	Tag       string                 `cbor:"g,omitempty"`
}

type format1Attr struct {
	Version uint64 `cbor:"v"`
	Size    int    `cbor:"n"`
	Sum     []byte `cbor:"h"`
	Tag     string `cbor:"t,omitempty"`
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFormat_OldNodesRefuseFormat2: a meta record with an inline attribute
// does not decode as format 1, so a node of an older release treats the
// session as undecodable instead of saving it back without the inline
// values; one without inline attributes is format 1, and decodes there
// whole.
func TestFormat_OldNodesRefuseFormat2(t *testing.T) {
	inline := metaRecord{Version: 3, Created: t0, Deadline: t0.Add(time.Hour), Principal: "p",
		Attrs: map[string]attrInfo{"n": {Version: 3, Size: 1, Value: mustEncode(t, 7)}}}
	var old format1Meta
	if err := decMode.Unmarshal(mustEncode(t, &inline), &old); err == nil {
		t.Fatalf("format-1 code decoded a format-2 record: %+v", old)
	}

	records := metaRecord{Version: 3, Created: t0, Deadline: t0.Add(time.Hour), Principal: "p",
		Attrs: map[string]attrInfo{"big": {Version: 2, Size: 9, Sum: digest([]byte("x")), Tag: "tg"}}}
	old = format1Meta{}
	if err := decMode.Unmarshal(mustEncode(t, &records), &old); err != nil {
		t.Fatalf("format-1 code failed on a record without inline attributes: %v", err)
	}
	if a := old.Attrs["big"]; old.Principal != "p" || a.Version != 2 || a.Tag != "tg" || a.Size != 9 {
		t.Fatalf("format-1 code read %+v", old)
	}
}

// TestFormat_RoundTrip: both formats read back as written; a format this
// release does not know is refused.
func TestFormat_RoundTrip(t *testing.T) {
	for _, rec := range []metaRecord{
		{Version: 1, Created: t0, Deadline: t0},
		{Version: 2, Created: t0, Deadline: t0, Attrs: map[string]attrInfo{"r": {Version: 2, Size: 3, Sum: []byte{1}, Tag: "t"}}},
		{Version: 4, Created: t0, Deadline: t0, Ended: ReasonExpired, Pending: true, Tag: "g", Attrs: map[string]attrInfo{
			"r": {Version: 2, Size: 3, Sum: []byte{1}, Tag: "t"}, "i": {Version: 4, Size: 1, Value: []byte{0x07}}}},
	} {
		var got metaRecord
		if err := decode(mustEncode(t, &rec), &got); err != nil {
			t.Fatal(err)
		}
		if got.Version != rec.Version || got.Ended != rec.Ended || got.Tag != rec.Tag || len(got.Attrs) != len(rec.Attrs) {
			t.Fatalf("read back %+v, wrote %+v", got, rec)
		}
		for name, a := range rec.Attrs {
			if g := got.Attrs[name]; g.inline() != a.inline() || string(g.Value) != string(a.Value) || g.Tag != a.Tag {
				t.Fatalf("%s read back %+v, wrote %+v", name, g, a)
			}
		}
	}
	future, _ := encMode.Marshal(map[string]any{"v": 1, "a": 3, "b": map[string]any{}})
	var got metaRecord
	if err := decode(future, &got); err == nil || !strings.Contains(err.Error(), "format 3") {
		t.Fatalf("decoding format 3: %v, want an error naming the format", err)
	}
}

// TestFormat_OldRecordsLoad: a session stored by a release before format 2
// (every attribute a record named by the index) loads, reads and saves:
// the changed small attribute goes inline (its old record is deleted),
// the unchanged one stays in its record.
func TestFormat_OldRecordsLoad(t *testing.T) {
	clk := clock.NewFake(t0)
	eng := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { eng.Close() })
	cfg := DefaultConfig()
	cfg.Clock, cfg.NoLeases = clk, true
	m, err := New(eng, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx := context.Background()
	base := newID()
	k := storeKey(base)
	n, cart := mustEncode(t, 41), mustEncode(t, map[string]int{"apple": 2})
	old := format1Meta{Version: 5, Created: t0, Deadline: t0.Add(24 * time.Hour), Attrs: map[string]format1Attr{
		"n":    {Version: 5, Size: len(n), Sum: digest(n), Tag: "t5"},
		"cart": {Version: 3, Size: len(cart), Sum: digest(cart), Tag: "t3"},
	}}
	metaBytes, _ := encMode.Marshal(&old)
	ops := []engine.Op{
		{Key: metaKey(k), Value: metaBytes, TTL: time.Hour},
		{Key: touchKey(k), Value: mustEncode(t, &touchRecord{LastAccess: t0}), TTL: time.Hour},
		{Key: attrKey(k, "n", attrInfo{Version: 5, Tag: "t5"}), Value: mustEncode(t, &attrRecord{Version: 5, Value: n}), TTL: time.Hour},
		{Key: attrKey(k, "cart", attrInfo{Version: 3, Tag: "t3"}), Value: mustEncode(t, &attrRecord{Version: 3, Value: cart}), TTL: time.Hour},
	}
	for _, op := range ops {
		if _, err := eng.Commit(ctx, op); err != nil {
			t.Fatal(err)
		}
	}

	s := &Session{m: m, ctx: ctx}
	if err := m.loadStored(ctx, s, base, storeKey(base)); err != nil || !s.stored {
		t.Fatalf("load of a format-1 session: stored %v, %v", s.stored, err)
	}
	got, _, err := Get[int](s, "n")
	if err != nil || got != 41 {
		t.Fatalf("n = %d, %v; want 41", got, err)
	}
	if err := s.Put("n", got+1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.save(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Get(ctx, ops[2].Key); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("the old record of n after it went inline: %v, want it deleted", err)
	}

	s2 := &Session{m: m, ctx: ctx}
	if err := m.loadStored(ctx, s2, base, storeKey(base)); err != nil || !s2.stored {
		t.Fatalf("reload: stored %v, %v", s2.stored, err)
	}
	if !s2.meta.Attrs["n"].inline() || s2.meta.Attrs["cart"].inline() {
		t.Fatalf("index %+v: want n inline, cart still in its record", s2.meta.Attrs)
	}
	gotN, _, err1 := Get[int](s2, "n")
	gotCart, _, err2 := Get[map[string]int](s2, "cart")
	if err := errors.Join(err1, err2); err != nil || gotN != 42 || gotCart["apple"] != 2 {
		t.Fatalf("after the save: n = %d, cart = %v, %v; want 42 and apple 2", gotN, gotCart, err)
	}
}

// TestFormat_Placement: small values go inline smallest first within the
// budget; a value over inlineMax, or one that no longer fits, gets a
// record; with inline storage off nothing is inline.
func TestFormat_Placement(t *testing.T) {
	val := func(n int) []byte { // a CBOR text string of n bytes in all
		hdr := 3
		switch {
		case n <= 24:
			hdr = 1
		case n <= 257:
			hdr = 2
		}
		b := mustEncode(t, strings.Repeat("v", n-hdr))
		if len(b) != n {
			t.Fatalf("value of %d bytes, want %d", len(b), n)
		}
		return b
	}
	changes := []change{
		{name: "big", value: val(inlineMax + 1)},
		{name: "a", value: val(inlineMax)},
		{name: "b", value: val(inlineMax)},
		{name: "c", value: val(inlineMax)},
		{name: "d", value: val(inlineMax)},
		{name: "e", value: val(10)},
	}
	next := nextIndex(nil, changes, 1, "tg", true)
	var inline, records []string
	for _, name := range []string{"a", "b", "c", "d", "e", "big"} {
		if next[name].inline() {
			inline = append(inline, name)
		} else {
			records = append(records, name)
		}
	}
	if strings.Join(inline, ",") != "a,b,c,e" || strings.Join(records, ",") != "d,big" {
		t.Fatalf("inline %v, records %v; want a,b,c,e inline (smallest first, within %d bytes), d and big in records", inline, records, inlineBudget)
	}
	if used := inlineBytes(next); used > inlineBudget {
		t.Fatalf("inline bytes %d over the budget %d", used, inlineBudget)
	}
	if next := nextIndex(nil, changes, 1, "tg", false); hasInline(next) {
		t.Fatalf("inline storage off still placed %v inline", next)
	}
	var rec map[string]cbor.RawMessage
	if err := cbor.Unmarshal(mustEncode(t, &metaRecord{Attrs: next}), &rec); err != nil || rec["a"][0] != metaFormat || rec["b"] == nil {
		t.Fatalf("stored form %v (%v): want a = %d and the index under b", rec, err, metaFormat)
	}
}

// TestFormat_StorageFormat1Readable: with Config.StorageFormat 1, what a
// save writes decodes as format 1, with every attribute, a session saved
// with inline attributes before included.
func TestFormat_StorageFormat1Readable(t *testing.T) {
	clk := clock.NewFake(t0)
	eng := memengine.New(memengine.Options{Clock: clk})
	t.Cleanup(func() { eng.Close() })
	ctx := context.Background()
	open := func(format int) *Manager {
		cfg := DefaultConfig()
		cfg.Clock, cfg.NoLeases, cfg.StorageFormat = clk, true, format
		m, err := New(eng.Peer(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	s := &Session{m: open(0), ctx: ctx}
	if err := errors.Join(s.Put("x", 1), s.Put("y", "small")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.save(ctx); err != nil {
		t.Fatal(err)
	}
	m1 := open(1)
	s1 := &Session{m: m1, ctx: ctx}
	if err := m1.loadStored(ctx, s1, s.base, storeKey(s.base)); err != nil || !s1.stored {
		t.Fatalf("load: %v %v", s1.stored, err)
	}
	if err := s1.Put("x", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.save(ctx); err != nil {
		t.Fatal(err)
	}
	e, err := eng.Get(ctx, metaKey(storeKey(s.base)))
	if err != nil {
		t.Fatal(err)
	}
	var old format1Meta
	if err := decMode.Unmarshal(e.Value, &old); err != nil || len(old.Attrs) != 2 {
		t.Fatalf("format-1 code reads %+v, %v; want both attributes", old, err)
	}
	for name, a := range old.Attrs {
		r, err := eng.Get(ctx, attrKey(storeKey(s.base), name, attrInfo{Version: a.Version, Tag: a.Tag}))
		if err != nil {
			t.Fatalf("record of %s: %v", name, err)
		}
		var rec attrRecord
		if err := decode(r.Value, &rec); err != nil || !bytes.Equal(digest(rec.Value), a.Sum) {
			t.Fatalf("record of %s: %+v, %v; want the indexed value", name, rec, err)
		}
	}
}
