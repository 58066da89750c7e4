// Package counter is the session logic the framework examples share: a
// login and a per-session counter, written against kiln alone.
package counter

import (
	"fmt"

	"github.com/kilnhq/kiln"
)

// attrCount is the session attribute holding the counter.
const attrCount = "count"

// View is the examples' JSON answer.
type View struct {
	User  string `json:"user"`
	Count int    `json:"count"`
}

// Login binds the session to user and gives it a new ID (against session
// fixation).
func Login(s *kiln.Session, user string) error {
	if user == "" {
		return fmt.Errorf("counter: login: empty user")
	}
	if err := s.SetPrincipal(user); err != nil {
		return err
	}
	return s.RenewID()
}

// Increment adds one to the session's counter and returns the new view.
func Increment(s *kiln.Session) (View, error) {
	n, _, err := kiln.Get[int](s, attrCount)
	if err != nil {
		return View{}, err
	}
	if err := s.Put(attrCount, n+1); err != nil {
		return View{}, err
	}
	return View{User: s.Principal(), Count: n + 1}, nil
}

// Read returns the session's view.
func Read(s *kiln.Session) (View, error) {
	n, _, err := kiln.Get[int](s, attrCount)
	return View{User: s.Principal(), Count: n}, err
}
