package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/kilnhq/kiln"
)

// The app every node serves: a per-session counter "n", and "lsid", the
// logical session's name, written once when the session is created (from
// the X-Lsid header the client proposes) and carried over by RenewID. Every
// answer reports what the handler saw, so the client can tell which logical
// session served it.
//
// Every increment also writes "pad" (padFor): n again, with a filler that
// makes it too large to be inline in the meta record every third time, so
// saves move it between the two stored forms (docs/storage.md) and the
// attribute-record faults have records to hit. A handler that finds pad
// disagreeing with n saw half a save, and answers Torn.
const (
	pathRead      = "/read"
	pathIncr      = "/incr"
	pathLogin     = "/login"      // SetPrincipal(?user) + RenewID
	pathLogout    = "/logout"     // Invalidate
	pathLogoutAll = "/logout-all" // InvalidatePrincipal(own principal)
	headerLsid    = "X-Lsid"
)

// reply is the app's answer body.
type reply struct {
	Lsid      string `json:"lsid"` // the logical session the handler saw ("" if new)
	N         int    `json:"n"`    // the counter after the request
	Principal string `json:"p"`
	Torn      bool   `json:"torn,omitempty"` // n and pad disagree
}

// padFor returns the pad an increment to n writes: large (1500 bytes, over
// kiln's inline bound) when n is a multiple of 3, else small.
func padFor(n int) string {
	filler := 8
	if n%3 == 0 {
		filler = 1500
	}
	return strconv.Itoa(n) + ":" + strings.Repeat("p", filler)
}

// torn reports whether pad (ok: present) disagrees with counter n.
func torn(n int, pad string, ok bool) bool {
	if n == 0 {
		return ok
	}
	return pad != padFor(n)
}

func appHandler(m *kiln.Manager) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		rep, err := serve(m, s, r)
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rep)
	})
}

func serve(m *kiln.Manager, s *kiln.Session, r *http.Request) (reply, error) {
	lsid, _, err := kiln.Get[string](s, "lsid")
	if err != nil {
		return reply{}, err
	}
	n, _, err := kiln.Get[int](s, "n")
	if err != nil {
		return reply{}, err
	}
	pad, hasPad, err := kiln.Get[string](s, "pad")
	if err != nil {
		return reply{}, err
	}
	rep := reply{Lsid: lsid, N: n, Principal: s.Principal(), Torn: torn(n, pad, hasPad)}
	create := func() error {
		if lsid != "" {
			return nil
		}
		lsid = r.Header.Get(headerLsid)
		rep.Lsid = lsid
		return s.Put("lsid", lsid)
	}
	switch r.URL.Path {
	case pathIncr:
		if err := create(); err != nil {
			return rep, err
		}
		rep.N = n + 1
		if err := s.Put("pad", padFor(rep.N)); err != nil {
			return rep, err
		}
		return rep, s.Put("n", rep.N)
	case pathLogin:
		user := r.URL.Query().Get("user")
		if err := create(); err != nil {
			return rep, err
		}
		if err := s.SetPrincipal(user); err != nil {
			return rep, err
		}
		rep.Principal = user
		return rep, s.RenewID()
	case pathLogout:
		s.Invalidate()
	case pathLogoutAll:
		if rep.Principal != "" {
			_, err := m.InvalidatePrincipal(r.Context(), rep.Principal)
			return rep, err
		}
	}
	return rep, nil
}
