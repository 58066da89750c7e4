package gorillastore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/kilnhq/kiln/engine"
)

// Defaults New gives a Store.
const (
	DefaultKeyPrefix = "gorilla"
	DefaultMaxAge    = 20 * 60        // seconds: the TTL of a MaxAge 0 session
	defaultCookieAge = 30 * 24 * 3600 // seconds: Options.MaxAge
)

// deleteMarkerTTL bounds how long a deleted session's marker stays in
// the engine (a marker written without a TTL would stay for good).
const deleteMarkerTTL = time.Minute

// ErrConflict (with CheckConflicts): another request saved the session
// since this one loaded it; nothing was written. Test with errors.Is.
var ErrConflict = errors.New("gorillastore: session saved by another request since it was loaded")

// Store is a gorilla/sessions store on a kiln engine. Set its fields
// before use; it is then safe for concurrent use.
type Store struct {
	// Codecs encode the session ID in the cookie; none: the cookie
	// carries the ID as it is.
	Codecs []securecookie.Codec
	// Options are the defaults of every new session's cookie.
	Options *sessions.Options
	// DefaultMaxAge is the TTL, in seconds, of a session whose MaxAge is 0.
	DefaultMaxAge int
	// KeyPrefix is the first token of the keys: letters, digits, '-' and
	// '_'. Apps sharing an engine bucket need different prefixes.
	KeyPrefix string
	// Serializer encodes Values. Default GobSerializer.
	Serializer Serializer
	// CheckConflicts makes Save of a loaded session conditional on nobody
	// having saved it since (ErrConflict). Default off: the last Save wins.
	CheckConflicts bool

	eng  engine.Store
	revs revisions
}

var _ sessions.Store = (*Store)(nil)

// New returns a store keeping sessions in eng. keyPairs, as for
// securecookie.CodecsFromPairs, authenticate (and optionally encrypt) the
// session ID in the cookie; with none the cookie carries the ID itself.
func New(eng engine.Store, keyPairs ...[]byte) *Store {
	return &Store{
		Codecs:        securecookie.CodecsFromPairs(keyPairs...),
		Options:       &sessions.Options{Path: "/", MaxAge: defaultCookieAge, HttpOnly: true},
		DefaultMaxAge: DefaultMaxAge,
		KeyPrefix:     DefaultKeyPrefix,
		Serializer:    GobSerializer{},
		eng:           eng,
	}
}

// MaxAge sets the cookies' MaxAge, and the securecookie codecs' with it.
func (s *Store) MaxAge(age int) {
	s.Options.MaxAge = age
	for _, c := range s.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(age)
		}
	}
}

// Get returns the request's session called name, once per request
// (gorilla's registry caches it).
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New returns the request's session called name: the stored one its
// cookie names, else a new one (IsNew). It returns an error, with a new
// session, if the cookie does not decode or the engine fails.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	session := sessions.NewSession(s, name)
	opts := *s.Options
	session.Options = &opts
	session.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return session, nil
	}
	id, err := s.decodeID(name, c.Value)
	if err != nil {
		return session, fmt.Errorf("gorillastore: cookie %s: %w", name, err)
	}
	return session, s.load(r.Context(), session, id)
}

// load reads the session stored under id into session. A missing one
// leaves session new, with no ID: Save draws a fresh one.
func (s *Store) load(ctx context.Context, session *sessions.Session, id string) error {
	e, err := s.eng.Get(ctx, s.key(id))
	if errors.Is(err, engine.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gorillastore: load: %w", err)
	}
	if err := s.Serializer.Deserialize(e.Value, session); err != nil {
		return err
	}
	session.ID, session.IsNew = id, false
	s.revs.set(session, e.Revision)
	return nil
}

// Save stores session and sets its cookie; with Options.MaxAge < 0 it
// deletes the session and expires the cookie.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, session *sessions.Session) error {
	if session.Options.MaxAge < 0 {
		if err := s.erase(r.Context(), session); err != nil {
			return err
		}
		http.SetCookie(w, sessions.NewCookie(session.Name(), "", session.Options))
		return nil
	}
	if err := s.save(r.Context(), session); err != nil {
		return err
	}
	value, err := s.encodeID(session.Name(), session.ID)
	if err != nil {
		return fmt.Errorf("gorillastore: cookie %s: %w", session.Name(), err)
	}
	http.SetCookie(w, sessions.NewCookie(session.Name(), value, session.Options))
	return nil
}
