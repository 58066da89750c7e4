package kiln

import (
	"strings"
	"testing"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		base, node, ok := parseID(id)
		if !ok || base != id || node != "" || len(id) != idLen {
			t.Fatalf("newID() = %q does not parse back (ok=%v)", id, ok)
		}
		if seen[id] {
			t.Fatalf("newID repeated %q", id)
		}
		seen[id] = true
	}
	if id := withNode(newID(), "n1"); !strings.HasSuffix(id, ".n1") {
		t.Fatalf("withNode = %q", id)
	}
}

func FuzzParseID(f *testing.F) {
	f.Add(newID())
	f.Add(withNode(newID(), "web-1"))
	f.Add("")
	f.Add("..")
	f.Add(strings.Repeat("A", 200))
	f.Fuzz(func(t *testing.T, s string) {
		base, node, ok := parseID(s)
		if !ok {
			return
		}
		if withNode(base, node) != s || len(base) != idLen || len(s) > maxIDLen {
			t.Fatalf("parseID(%q) = %q, %q accepted something newID could not make", s, base, node)
		}
		if Fingerprint(s) == "" || strings.Contains(storeKey(base), base) {
			t.Fatalf("fingerprint/store key of %q leak the ID", s)
		}
	})
}

func FuzzDecodeRecords(f *testing.F) {
	meta, _ := encode(&metaRecord{Version: 3, Principal: "p", Attrs: map[string]attrInfo{"a": {Version: 1, Size: 2}}})
	f.Add(meta)
	inline, _ := encode(&metaRecord{Version: 4, Attrs: map[string]attrInfo{"n": {Version: 4, Size: 1, Value: []byte{0x07}}}})
	f.Add(inline) // format 2
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m metaRecord
		var a attrRecord
		var tr touchRecord
		var v any
		_ = decode(b, &m)
		_ = decode(b, &a)
		_ = decode(b, &tr)
		_ = decode(b, &v)
	})
}
