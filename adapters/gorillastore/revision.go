package gorillastore

import (
	"runtime"
	"sync"
	"weak"

	"github.com/gorilla/sessions"
)

// revisions remembers the engine revision each live *sessions.Session
// was loaded or saved at, for CheckConflicts, without holding on to the
// session: an entry goes when its session is garbage collected.
type revisions struct {
	m sync.Map // weak.Pointer[sessions.Session] -> uint64
}

func (r *revisions) set(s *sessions.Session, rev uint64) {
	wp := weak.Make(s)
	if _, loaded := r.m.Swap(wp, rev); !loaded {
		runtime.AddCleanup(s, func(wp weak.Pointer[sessions.Session]) { r.m.Delete(wp) }, wp)
	}
}

// get is s's revision, or 0 if the store never saw s.
func (r *revisions) get(s *sessions.Session) uint64 {
	v, ok := r.m.Load(weak.Make(s))
	if !ok {
		return 0
	}
	return v.(uint64)
}
