package kiln

import (
	"reflect"
	"testing"
	"unsafe"
)

// TestNearCache_Layout keeps what every cached session allocates within
// the allocator's size classes it was measured in (BenchmarkNearCache_Memory,
// docs/scaling.md): a field added to one of these moves every cached
// session to the next class (16 to 32 bytes more each), which the
// snapshot's accounted size (snapshotOverhead) does not know about.
func TestNearCache_Layout(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"snapshot", unsafe.Sizeof(snapshot{}), 192},
		{"indexEntry", unsafe.Sizeof(indexEntry{}), 96},
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, want at most %d: update snapshotOverhead and docs/scaling.md if it must grow", c.name, c.size, c.max)
		}
	}
}

// TestIndexEntry_RoundTrip: an index entry gives back the attrInfo it was
// made from, inline or not, and one whose size does not fit is refused
// (the session is then not kept in the near cache, never kept wrong).
func TestIndexEntry_RoundTrip(t *testing.T) {
	for _, info := range []attrInfo{
		{Version: 7, Size: 1027, Sum: digest([]byte("v")), Tag: "tag"},
		{Version: 8, Size: 3, Value: []byte{0x63, 'a', 'b'}},
		{Version: 9, Size: 0},
	} {
		e, ok := toIndexEntry("a", info)
		if !ok {
			t.Fatalf("toIndexEntry(%+v) refused", info)
		}
		if e.loaded() != nil {
			t.Errorf("entry of %+v has a loaded value", info)
		}
		if got := e.info(); !reflect.DeepEqual(got, info) {
			t.Errorf("round trip: got %+v, want %+v", got, info)
		}
	}
	if _, ok := toIndexEntry("a", attrInfo{Size: 1 << 40}); ok {
		t.Error("toIndexEntry accepted a size past int32")
	}
}
