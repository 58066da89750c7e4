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

// indexEntry is one entry of a snapshot's attribute index.
type indexEntry struct {
	name string
	info attrInfo
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
	return index[i].info, true
}

// allIndex returns the entries of an index held as lookupIndex reads it,
// and their number.
func allIndex(attrs map[string]attrInfo, index []indexEntry) (iter.Seq2[string, attrInfo], int) {
	if attrs != nil || index == nil {
		return maps.All(attrs), len(attrs)
	}
	return func(yield func(string, attrInfo) bool) {
		for _, e := range index {
			if !yield(e.name, e.info) {
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
			size += e.info.Size
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
		for _, e := range s.index {
			s.meta.Attrs[e.name] = e.info
		}
	}
	return s.meta.Attrs
}

// indexEntries returns the index as a snapshot keeps it, sorted by name:
// the one s was restored from, while no save replaced it.
func (s *Session) indexEntries() []indexEntry {
	if s.index != nil {
		return s.index
	}
	index := make([]indexEntry, 0, len(s.meta.Attrs))
	for name, info := range s.meta.Attrs {
		index = append(index, indexEntry{name: name, info: info})
	}
	slices.SortFunc(index, func(a, b indexEntry) int { return strings.Compare(a.name, b.name) })
	return index
}
