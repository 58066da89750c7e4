package kiln

import (
	"iter"
	"maps"
	"slices"
	"strings"
)

// A Session restored from the near cache gets the copy's attribute index
// as a sorted slice shared with it (leased.go): most requests only look
// attributes up, and building a map per request cost more than the
// lookups. The index becomes a map, s.meta.Attrs, only when a use needs
// one: a save, Keys, a plan. Read the index through these methods, never
// s.meta.Attrs directly, which is nil until then.

// indexEntry is one entry of a snapshot's attribute index: an attrInfo
// laid out for memory (a cached session keeps one per attribute, 96 bytes
// where an attrInfo and a name took as much without a loaded value). value
// is the one place the copy keeps an attribute's bytes: an inline
// attribute's value (attrInfo.Value), or the value of an attribute with a
// record of its own once a request loaded it (nil until then).
type indexEntry struct {
	name    string
	tag     string // attrInfo.Tag
	sum     []byte // attrInfo.Sum
	value   []byte
	version uint64 // attrInfo.Version
	size    int32  // attrInfo.Size (toIndexEntry refuses larger)
	inline  bool   // value is attrInfo.Value
}

// toIndexEntry returns info as an index entry, without a loaded value; ok
// is false if its size does not fit.
func toIndexEntry(name string, info attrInfo) (e indexEntry, ok bool) {
	if int(int32(info.Size)) != info.Size {
		return indexEntry{}, false
	}
	e = indexEntry{name: name, tag: info.Tag, sum: info.Sum, version: info.Version, size: int32(info.Size)}
	if info.inline() {
		e.value, e.inline = info.Value, true
	}
	return e, true
}

// info returns the entry as the meta record indexes it.
func (e *indexEntry) info() attrInfo {
	info := attrInfo{Version: e.version, Size: int(e.size), Sum: e.sum, Tag: e.tag}
	if e.inline {
		info.Value = e.value
	}
	return info
}

// loaded returns the value of a record attribute a request loaded, or nil.
func (e *indexEntry) loaded() []byte {
	if e.inline {
		return nil
	}
	return e.value
}

// indexed returns the index entry of the attribute under name.
func (s *Session) indexed(name string) (attrInfo, bool) {
	return lookupIndex(s.meta.Attrs, s.index, name)
}

// indexLen returns the number of attributes in the index.
func (s *Session) indexLen() int {
	if s.meta.Attrs != nil || s.index == nil {
		return len(s.meta.Attrs)
	}
	return len(s.index)
}

// lookupIndex finds name in an index held as the map attrs, or, while
// attrs is nil, as the sorted slice index.
func lookupIndex(attrs map[string]attrInfo, index []indexEntry, name string) (attrInfo, bool) {
	if attrs != nil || index == nil {
		info, ok := attrs[name]
		return info, ok
	}
	i, ok := slices.BinarySearchFunc(index, name, func(e indexEntry, name string) int {
		return strings.Compare(e.name, name)
	})
	if !ok {
		return attrInfo{}, false
	}
	return index[i].info(), true
}

// allIndex returns the entries of an index held as lookupIndex reads it,
// and their number.
func allIndex(attrs map[string]attrInfo, index []indexEntry) (iter.Seq2[string, attrInfo], int) {
	if attrs != nil || index == nil {
		return maps.All(attrs), len(attrs)
	}
	return func(yield func(string, attrInfo) bool) {
		for i := range index {
			if !yield(index[i].name, index[i].info()) {
				return
			}
		}
	}, len(index)
}

// sizeAfter returns the number of attributes and their total size the
// index will hold after changes (each name once), without building it.
func (s *Session) sizeAfter(changes []change) (n, size int) {
	n = s.indexLen()
	if s.meta.Attrs != nil || s.index == nil {
		size = s.meta.sessionSize()
	} else {
		for _, e := range s.index {
			size += int(e.size)
		}
	}
	for _, c := range changes {
		if info, ok := s.indexed(c.name); ok {
			n, size = n-1, size-info.Size
		}
		if !c.deleted {
			n, size = n+1, size+len(c.value)
		}
	}
	return n, size
}

// attrIndex returns the index as a map, building s.meta.Attrs from the
// restored index first if it is not built yet. The map must not be
// changed in place: the next index is a new map (nextIndex).
func (s *Session) attrIndex() map[string]attrInfo {
	if s.meta.Attrs == nil && len(s.index) > 0 {
		s.meta.Attrs = make(map[string]attrInfo, len(s.index))
		for i := range s.index {
			s.meta.Attrs[s.index[i].name] = s.index[i].info()
		}
	}
	return s.meta.Attrs
}

// cacheIndex returns the index as a snapshot keeps it, sorted by name,
// with the value of each record attribute the request loaded: the one s
// was restored from if it holds them all (n, the number of such values
// the request has), else a new one. ok is false if an entry does not fit
// an indexEntry (the copy is not kept).
func (s *Session) cacheIndex(n int) (index []indexEntry, ok bool) {
	if s.index != nil && loadedCount(s.index) == n {
		return s.index, true
	}
	if s.index != nil { // restored, and a request loaded more values since
		index = slices.Clone(s.index)
		for i := range index {
			s.withLoaded(&index[i])
		}
		return index, true
	}
	index = make([]indexEntry, 0, len(s.meta.Attrs))
	for name, info := range s.meta.Attrs {
		e, ok := toIndexEntry(name, info)
		if !ok {
			return nil, false
		}
		s.withLoaded(&e)
		index = append(index, e)
	}
	slices.SortFunc(index, func(a, b indexEntry) int { return strings.Compare(a.name, b.name) })
	return index, true
}

// withLoaded sets e's value to the attribute's encoded value if the
// request has it loaded and it is not inline.
func (s *Session) withLoaded(e *indexEntry) {
	if a := s.attrs[e.name]; a != nil && !e.inline && s.cached(e.name, a) {
		e.value = a.raw
	}
}

// loadedCount returns the number of loaded record values in index.
func loadedCount(index []indexEntry) int {
	n := 0
	for i := range index {
		if index[i].loaded() != nil {
			n++
		}
	}
	return n
}
