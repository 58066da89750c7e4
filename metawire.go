package kiln

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"
)

// appendMeta appends m in format 2 (or, without attributes, with no index
// at all) as the codec would encode metaWire, byte for byte, without
// reflection: a save encodes its meta record on every write, and the
// generic encoder took a fifth of a one-attribute save's CPU
// (BenchmarkNATS_Request/ChangeOne). It reports false, having appended
// nothing, for what it does not write the same way (a format-1 index, a
// time Format would not render as RFC 3339); the caller encodes m
// generically then. TestAppendMeta_MatchesCodec checks it against the
// codec.
func appendMeta(b []byte, m *metaRecord) ([]byte, bool) {
	if (len(m.Attrs) > 0 && !hasInline(m.Attrs)) || !rfc3339able(m.Created) || !rfc3339able(m.Deadline) {
		return b, false
	}
	// Fields in the codec's deterministic order: keys bytewise.
	n := 3 // c, d, v are always written
	present := [...]bool{len(m.Attrs) > 0, len(m.Attrs) > 0, m.Tag != "", m.MaxIdle != 0, m.Principal != "", m.Remember, m.Ended != "", m.Pending}
	for _, p := range present {
		if p {
			n++
		}
	}
	b = appendHead(b, 5, uint64(n))
	if len(m.Attrs) > 0 {
		b = append(appendKey(b, "a"), metaFormat) // the format, a small unsigned integer
		b = appendIndex(appendKey(b, "b"), m.Attrs)
	}
	b = appendTime(appendKey(b, "c"), m.Created)
	b = appendTime(appendKey(b, "d"), m.Deadline)
	if m.Tag != "" {
		b = appendText(appendKey(b, "g"), m.Tag)
	}
	if m.MaxIdle != 0 {
		b = appendInt(appendKey(b, "i"), int64(m.MaxIdle))
	}
	if m.Principal != "" {
		b = appendText(appendKey(b, "p"), m.Principal)
	}
	if m.Remember {
		b = append(appendKey(b, "r"), 0xf5)
	}
	b = appendHead(appendKey(b, "v"), 0, m.Version)
	if m.Ended != "" {
		b = appendText(appendKey(b, "x"), string(m.Ended))
	}
	if m.Pending {
		b = append(appendKey(b, "z"), 0xf5)
	}
	return b, true
}

// encodeMeta encodes m as encode(m) does, without the codec's reflection
// where appendMeta can.
func encodeMeta(m *metaRecord) ([]byte, error) {
	if b, ok := appendMeta(make([]byte, 0, metaSizeHint(m)), m); ok {
		return b, nil
	}
	return encode(m)
}

// metaSizeHint is a little more than appendMeta writes for m, so that it
// writes into one allocation.
func metaSizeHint(m *metaRecord) int {
	n := 128 + len(m.Principal) + len(m.Tag) + len(m.Ended)
	for name, a := range m.Attrs {
		n += len(name) + len(a.Value) + len(a.Sum) + len(a.Tag) + 40
	}
	return n
}

// appendIndex appends the index map, its keys in the codec's order: by
// their encoded bytes (so shorter names first).
func appendIndex(b []byte, attrs map[string]attrInfo) []byte {
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.SortFunc(names, func(x, y string) int {
		if len(x) != len(y) {
			return len(x) - len(y) // a longer text's head is greater
		}
		return strings.Compare(x, y) // bytewise
	})
	b = appendHead(b, 5, uint64(len(names)))
	for _, name := range names {
		b = appendAttrInfo(appendText(b, name), attrs[name])
	}
	return b
}

// appendAttrInfo appends one index entry: fields d, h, n, t, v.
func appendAttrInfo(b []byte, a attrInfo) []byte {
	n := 2 // n and v are always written
	if len(a.Value) > 0 {
		n++
	}
	if len(a.Sum) > 0 {
		n++
	}
	if a.Tag != "" {
		n++
	}
	b = appendHead(b, 5, uint64(n))
	if len(a.Value) > 0 {
		b = append(appendKey(b, "d"), a.Value...) // encoded already
	}
	if len(a.Sum) > 0 {
		b = append(appendHead(appendKey(b, "h"), 2, uint64(len(a.Sum))), a.Sum...)
	}
	b = appendInt(appendKey(b, "n"), int64(a.Size))
	if a.Tag != "" {
		b = appendText(appendKey(b, "t"), a.Tag)
	}
	return appendHead(appendKey(b, "v"), 0, a.Version)
}

// rfc3339able reports whether the codec renders t as appendTime does: a
// zero time as null, any other with a four-digit year.
func rfc3339able(t time.Time) bool {
	return t.IsZero() || (t.Year() >= 0 && t.Year() <= 9999)
}

// appendTime appends t as the codec does (TimeRFC3339Nano, EncTagRequired):
// tag 0 and the RFC 3339 text, or null for the zero time.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0xf6)
	}
	var buf [40]byte
	s := t.AppendFormat(buf[:0], time.RFC3339Nano)
	return append(appendHead(append(b, 0xc0), 3, uint64(len(s))), s...)
}

func appendKey(b []byte, k string) []byte { return appendText(b, k) }

func appendText(b []byte, s string) []byte {
	return append(appendHead(b, 3, uint64(len(s))), s...)
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return appendHead(b, 1, uint64(-(v + 1)))
	}
	return appendHead(b, 0, uint64(v))
}

// appendHead appends a CBOR head of major type major and argument v, in
// its shortest form.
func appendHead(b []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(b, m|byte(v))
	case v <= 0xff:
		return append(b, m|24, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), v)
}
