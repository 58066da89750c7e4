package gorillastore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/sessions"

	"github.com/kilnhq/kiln/engine"
)

// save writes session with its TTL: a session without an ID gets a fresh
// one, written only if its key is new.
func (s *Store) save(ctx context.Context, session *sessions.Session) error {
	data, err := s.Serializer.Serialize(session)
	if err != nil {
		return err
	}
	op := engine.Op{Value: data, TTL: s.ttl(session)}
	switch {
	case session.ID == "":
		session.ID, op.IfNew = newID(), true
	case s.CheckConflicts:
		op.IfRevision = s.revs.get(session)
	}
	op.Key = s.key(session.ID)
	revs, err := s.eng.Commit(ctx, op)
	if errors.Is(err, engine.ErrConflict) && op.IfRevision != 0 {
		return fmt.Errorf("%w (%w)", ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("gorillastore: save: %w", err)
	}
	s.revs.set(session, revs[0])
	return nil
}

// ttl is the stored session's lifetime: MaxAge, or DefaultMaxAge for a
// browser-session cookie (MaxAge 0).
func (s *Store) ttl(session *sessions.Session) time.Duration {
	age := session.Options.MaxAge
	if age == 0 {
		age = s.DefaultMaxAge
	}
	if age <= 0 {
		age = DefaultMaxAge
	}
	return time.Duration(age) * time.Second
}

// erase deletes session's stored copy and clears its values.
func (s *Store) erase(ctx context.Context, session *sessions.Session) error {
	if session.ID != "" {
		op := engine.Op{Key: s.key(session.ID), Delete: true, TTL: deleteMarkerTTL}
		if _, err := s.eng.Commit(ctx, op); err != nil && !errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("gorillastore: delete: %w", err)
		}
	}
	clear(session.Values)
	return nil
}
