package kiln

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestAppendMeta_MatchesCodec: for random meta records, appendMeta writes
// exactly the bytes the codec writes for metaWire, or declines (a
// format-1 index, a year Format cannot render), and the bytes decode back
// to the record.
func TestAppendMeta_MatchesCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	written := 0
	for i := range 5000 {
		m := randomMeta(r)
		want, err := m.marshalGeneric()
		got, ok := appendMeta(nil, &m)
		if !ok {
			continue
		}
		written++
		if err != nil {
			t.Fatalf("record %d: the codec fails (%v) where appendMeta writes %x", i, err, got)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: %+v\nappendMeta %x\ncodec      %x", i, m, got, want)
		}
		var back metaRecord
		if err := back.UnmarshalCBOR(got); err != nil {
			t.Fatalf("record %d: decode: %v", i, err)
		}
		if len(got) > metaSizeHint(&m) {
			t.Errorf("record %d: %d bytes, over the hint %d", i, len(got), metaSizeHint(&m))
		}
		if len(m.Attrs) == 0 {
			m.Attrs = nil
		}
		if !sameMeta(back, m) {
			t.Fatalf("record %d: decoded %+v, want %+v", i, back, m)
		}
	}
	if written < 2000 {
		t.Fatalf("appendMeta wrote only %d of 5000 records", written)
	}
	// What it declines: an index with no inline entry, a year past 9999.
	if _, ok := appendMeta(nil, &metaRecord{Attrs: map[string]attrInfo{"a": {Version: 1, Size: 3, Sum: digest([]byte("x")), Tag: "t"}}}); ok {
		t.Error("appendMeta wrote a format-1 index")
	}
	if _, ok := appendMeta(nil, &metaRecord{Created: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); ok {
		t.Error("appendMeta wrote the year 10000")
	}
}

func sameMeta(a, b metaRecord) bool {
	if !a.Created.Equal(b.Created) || !a.Deadline.Equal(b.Deadline) {
		return false
	}
	a.Created, a.Deadline, b.Created, b.Deadline = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func randomMeta(r *rand.Rand) metaRecord {
	m := metaRecord{
		Version:  randomUint(r),
		Created:  randomTime(r),
		Deadline: randomTime(r),
	}
	if r.IntN(2) == 0 {
		m.Principal = randomName(r)
	}
	switch r.IntN(3) {
	case 0:
		m.MaxIdle = time.Duration(r.Int64N(math.MaxInt64))
	case 1:
		m.MaxIdle = -time.Duration(r.Int64N(1 << 40))
	}
	m.Remember, m.Pending = r.IntN(2) == 0, r.IntN(3) == 0
	if r.IntN(3) == 0 {
		m.Ended = DestroyReason(randomName(r))
	}
	if r.IntN(2) == 0 {
		m.Tag = randomToken()
	}
	if n := r.IntN(14); n > 0 {
		m.Attrs = map[string]attrInfo{}
		for range n {
			m.Attrs[randomName(r)] = randomInfo(r)
		}
	}
	return m
}

func randomInfo(r *rand.Rand) attrInfo {
	a := attrInfo{Version: randomUint(r), Size: int(randomUint(r) >> 2)}
	if r.IntN(3) == 0 {
		a.Sum, a.Tag = digest([]byte(randomName(r))), randomToken()
		return a
	}
	values := []any{int64(r.Int64()), -r.Int64N(1000), randomName(r), strings.Repeat("v", r.IntN(300)),
		map[string]any{"k": r.Float64()}, []any{true, nil, "x"}, r.Float64()}
	b, err := encode(values[r.IntN(len(values))])
	if err != nil {
		panic(err)
	}
	a.Value, a.Size = b, len(b)
	return a
}

func randomUint(r *rand.Rand) uint64 {
	return r.Uint64() >> (r.IntN(8) * 8) // every head length
}

func randomName(r *rand.Rand) string {
	chars := []rune("abcdefghijklmnopqrstuvwxyzAB_-09é\x00語")
	b := make([]rune, 1+r.IntN(r.IntN(300)+1))
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

func randomTime(r *rand.Rand) time.Time {
	if r.IntN(10) == 0 {
		return time.Time{}
	}
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("", -7*3600-1800), time.FixedZone("Z1", 5*3600+45*60)}
	nsec := r.Int64N(1e9)
	if r.IntN(2) == 0 {
		nsec = nsec / 1e6 * 1e6 // trailing zeros, trimmed by RFC3339Nano
	}
	t := time.Unix(r.Int64N(253402300799), nsec).In(zones[r.IntN(len(zones))])
	if r.IntN(4) == 0 {
		t = time.Now() // with a monotonic reading
	}
	return t
}

// BenchmarkMetaEncode: the meta record of a ten-attribute session (values
// of 100 bytes, inline), encoded by appendMeta (Fast) and by the codec
// (Codec), as a save encodes it.
func BenchmarkMetaEncode(b *testing.B) {
	now := time.Now()
	m := metaRecord{Version: 12, Created: now, Deadline: now.Add(24 * time.Hour), Tag: randomToken(), Attrs: map[string]attrInfo{}}
	for i := range 10 {
		v, _ := encode(strings.Repeat("x", 100))
		m.Attrs["a"+string(rune('0'+i))] = attrInfo{Version: 11, Size: len(v), Value: v}
	}
	b.Run("Fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeMeta(&m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encode(metaWireOf(m)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// metaWireOf is what marshalGeneric hands the codec.
func metaWireOf(m metaRecord) *metaWire {
	return &metaWire{metaFields: metaFields(m), Index: []byte{metaFormat}, Index2: m.Attrs}
}

// TestAppendMeta_KnowsEveryField: appendMeta writes the fields of
// metaRecord and attrInfo by hand; a field added to either must be added
// there too (and to randomMeta), or this fails.
func TestAppendMeta_KnowsEveryField(t *testing.T) {
	for _, tc := range []struct {
		typ  reflect.Type
		tags []string
	}{
		{reflect.TypeFor[metaRecord](), []string{"v", "c", "d", "p,omitempty", "i,omitempty", "r,omitempty", "-", "x,omitempty", "z,omitempty", "g,omitempty"}},
		{reflect.TypeFor[attrInfo](), []string{"v", "n", "h,omitempty", "t,omitempty", "d,omitempty"}},
		{reflect.TypeFor[metaWire](), []string{"", "a,omitempty", "b,omitempty"}},
	} {
		var tags []string
		for f := range tc.typ.Fields() {
			tags = append(tags, f.Tag.Get("cbor"))
		}
		if !reflect.DeepEqual(tags, tc.tags) {
			t.Errorf("%s has fields tagged %q; appendMeta (metawire.go) writes %q: update it", tc.typ, tags, tc.tags)
		}
	}
}
