package lease

// lru is an intrusive doubly linked list of entries, most recently used at
// the front: moving, adding and removing an entry are O(1), and eviction
// walks from the back. Its links live in the entries (Entry.prev, next,
// list); all of it is guarded by Table.mu.
type lru struct {
	root Entry // sentinel: root.next is the front, root.prev the back
	n    int
}

func (l *lru) init() *lru {
	l.root.next, l.root.prev = &l.root, &l.root
	return l
}

// pushFront makes e the most recently used of l, taking it off the list it
// was on, if any.
func (l *lru) pushFront(e *Entry) {
	if e.list != nil {
		e.list.remove(e)
	}
	e.list, e.prev, e.next = l, &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
	l.n++
}

// remove takes e off l.
func (l *lru) remove(e *Entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next, e.list = nil, nil, nil
	l.n--
}

// back returns the least recently used entry, or nil.
func (l *lru) back() *Entry { return l.before(&l.root) }

// before returns the entry used just before e, or nil at the end.
func (l *lru) before(e *Entry) *Entry {
	if e.prev == &l.root {
		return nil
	}
	return e.prev
}
