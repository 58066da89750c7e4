package lease

import (
	"math"
	"time"
)

// A held session's copy is dropped before its lease. When the near cache is
// past its byte bound, the least recently used held session keeps its lease
// and, in place of its copy, a Bare: the revisions and touch state the
// holder needs to load it again with one read of its meta record, no lease
// write and no read of the touch record (only the holder writes either
// while it holds the lease). Such entries are on a list of their own and may
// take at most a quarter of CacheBytes; past that, or past CacheSessions,
// the least recently used of them is evicted and its lease freed, as a held
// entry was before.

// Bare is what stays of a held session whose copy was dropped.
type Bare struct {
	MetaRev, TouchRev uint64
	LastAccess        time.Time
}

// bareSize is what an entry holding a Bare (or no snapshot) takes: the
// Entry with its slot lock, its key, its slot in the map and the Bare
// (BenchmarkCache_BareMemory measured 259–275 B; this is the larger).
const bareSize = 276

// bareShare is the part of CacheBytes that bare entries may take.
const bareShare = 4

// Size is bareSize.
func (b *Bare) Size() int { return bareSize }

// Revs returns the revisions and last access the copy had.
func (b *Bare) Revs() (uint64, uint64, time.Time) { return b.MetaRev, b.TouchRev, b.LastAccess }

// WithTouch returns b with another holder's touch state.
func (b *Bare) WithTouch(touchRev uint64, lastAccess time.Time) Snapshot {
	return &Bare{MetaRev: b.MetaRev, TouchRev: touchRev, LastAccess: lastAccess}
}

// isBare reports whether snap keeps no data: nil or a Bare.
func isBare(snap Snapshot) bool {
	_, ok := snap.(*Bare)
	return snap == nil || ok
}

// sizeOf is what an entry holding snap counts against CacheBytes.
func sizeOf(snap Snapshot) int {
	if snap == nil {
		return bareSize
	}
	return snap.Size()
}

// stripLocked replaces held entry e's copy by its Bare and moves e to the
// bare list; e's slot is held.
func (t *Table) stripLocked(e *Entry) {
	metaRev, touchRev, last := e.snap.Revs()
	e.snap = &Bare{MetaRev: metaRev, TouchRev: touchRev, LastAccess: last}
	t.resizeLocked(e, bareSize, true)
	t.cfg.Counters.Evictions.Add(1)
	t.cfg.Counters.Stripped.Add(1)
}

// resizeLocked sets e's size and whether it keeps no data, and moves it to
// the front of its list. A size past 2 GiB counts as 2 GiB (Entry.size is
// 32 bits, to keep the Entry in 128 bytes). bareBytes counts the entries
// on the bare list only (placeLocked): a bare entry handed over to another
// node is a copy, dropped with the copies.
func (t *Table) resizeLocked(e *Entry, size int, bare bool) {
	sz := int32(min(size, math.MaxInt32))
	if t.entries[e.k] == e {
		t.bytes += int(sz) - int(e.size)
		if e.list == &t.bare {
			t.bareBytes += int(sz) - int(e.size)
		}
	}
	e.size, e.bare = sz, bare
	t.placeLocked(e)
}
