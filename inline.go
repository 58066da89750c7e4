package kiln

import (
	"cmp"
	"iter"
	"maps"
	"slices"
)

// Small attributes are stored inline: their values sit in the meta record's
// index, so a save that changes only those is one write, the meta record's
// compare-and-set (docs/storage.md). It is atomic by itself, leaves nothing
// to clean up, and a load reads no attribute record. Large attributes keep a
// record of their own per version, so a large session still ships only what
// changed.
const (
	// inlineMax is the largest encoded value stored inline.
	inlineMax = 1 << 10
	// inlineBudget bounds the inline values of one meta record together.
	inlineBudget = 4 << 10
)

// nextIndex returns the attribute index attrs after changes saved as
// version by the attempt tagged tag. With inline set, a changed value of at
// most inlineMax bytes goes inline while the inline values stay within
// inlineBudget, smallest first (an unchanged inline value stays where it
// is); every other value gets a record (attrOps writes it).
func nextIndex(attrs map[string]attrInfo, changes []change, version uint64, tag string, inline bool) map[string]attrInfo {
	return nextIndexOf(maps.All(attrs), len(attrs), changes, version, tag, inline)
}

// nextIndexOf is nextIndex of the n entries of all.
func nextIndexOf(all iter.Seq2[string, attrInfo], n int, changes []change, version uint64, tag string, inline bool) map[string]attrInfo {
	next := make(map[string]attrInfo, n+len(changes))
	for name, info := range all {
		next[name] = info
	}
	for _, c := range changes {
		delete(next, c.name)
	}
	used := inlineBytes(next)
	for _, c := range bySize(changes) {
		if c.deleted {
			continue
		}
		if n := len(c.value); inline && n <= inlineMax && used+n <= inlineBudget {
			next[c.name] = attrInfo{Version: version, Size: n, Value: c.value}
			used += n
			continue
		}
		next[c.name] = attrInfo{Version: version, Size: len(c.value), Sum: digest(c.value), Tag: tag}
	}
	return next
}

// inlineBytes returns the size of the inline values in attrs.
func inlineBytes(attrs map[string]attrInfo) int {
	n := 0
	for _, a := range attrs {
		if a.inline() {
			n += len(a.Value)
		}
	}
	return n
}

// bySize returns changes ordered by size, then name: a deterministic
// placement that fits the most attributes inline.
func bySize(changes []change) []change {
	out := slices.Clone(changes)
	slices.SortFunc(out, func(a, b change) int {
		return cmp.Or(cmp.Compare(len(a.value), len(b.value)), cmp.Compare(a.name, b.name))
	})
	return out
}

// inlineOn reports whether this Manager stores small attributes inline:
// not with Config.StorageFormat 1, which keeps every record readable by
// releases before format 2 during a rolling upgrade (docs/migration.md).
func (m *Manager) inlineOn() bool { return m.cfg.StorageFormat != 1 }
