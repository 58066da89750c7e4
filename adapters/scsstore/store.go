package scsstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/kilnhq/kiln/clock"
	"github.com/kilnhq/kiln/engine"
)

// DefaultPrefix is the first token of every key when Options.Prefix is "".
const DefaultPrefix = "scs"

// deleteMarkerTTL bounds how long a deleted session's marker stays in
// the engine (a marker written without a TTL would stay for good).
const deleteMarkerTTL = time.Minute

// Errors of the package; test with errors.Is.
var (
	// ErrNotIterable: All was called on a store without Options.Iterable,
	// or on an engine that cannot list keys (no engine.Lister).
	ErrNotIterable = errors.New("scsstore: store is not iterable")
	// ErrCorrupt: a stored value is not in this package's format.
	ErrCorrupt = errors.New("scsstore: corrupt stored value")
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Prefix is the first token of the keys, letters, digits, '-' and
	// '_'. Apps sharing an engine bucket need different prefixes.
	// Default DefaultPrefix.
	Prefix string
	// Iterable stores each session's token in its value so that All (and
	// scs's Iterate) can return it. Off by default: the store then holds
	// nothing a client could present as a token.
	Iterable bool
	// Clock turns scs's expiry times into TTLs. Default clock.Real.
	Clock clock.Clock
}

// Store is an scs store on a kiln engine. It is safe for concurrent use.
type Store struct {
	eng  engine.Store
	opts Options
}

var (
	_ scs.Store            = (*Store)(nil)
	_ scs.CtxStore         = (*Store)(nil)
	_ scs.IterableStore    = (*Store)(nil)
	_ scs.IterableCtxStore = (*Store)(nil)
)

// New returns a store that keeps sessions in eng. It panics if
// opts.Prefix is not a valid key token (a programming error).
func New(eng engine.Store, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
	if err := engine.CheckKey(opts.Prefix); err != nil || strings.Contains(opts.Prefix, ".") {
		panic(fmt.Sprintf("scsstore: Options.Prefix %q: want one key token", opts.Prefix))
	}
	return &Store{eng: eng, opts: opts}
}

// Find returns the session data of token; see FindCtx.
func (s *Store) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// FindCtx returns the session data of token, or found == false if it has
// none (never written, deleted or expired).
func (s *Store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	e, err := s.eng.Get(ctx, s.key(token))
	if errors.Is(err, engine.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("scsstore: find: %w", err)
	}
	_, data, err := decodeValue(e.Value)
	if err != nil {
		return nil, false, fmt.Errorf("scsstore: find: %w", err)
	}
	return data, true, nil
}

// Commit stores b for token until expiry; see CommitCtx.
func (s *Store) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// CommitCtx stores b for token, replacing what it had, with a TTL that
// runs out at expiry. An expiry already past deletes the session.
func (s *Store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	ttl := expiry.Sub(s.opts.Clock.Now())
	if ttl <= 0 {
		return s.DeleteCtx(ctx, token)
	}
	kept := ""
	if s.opts.Iterable {
		kept = token
	}
	op := engine.Op{Key: s.key(token), Value: encodeValue(kept, b), TTL: ttl}
	if _, err := s.eng.Commit(ctx, op); err != nil {
		return fmt.Errorf("scsstore: commit: %w", err)
	}
	return nil
}

// Delete removes token's session; see DeleteCtx.
func (s *Store) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// DeleteCtx removes token's session. A token without one is no error.
func (s *Store) DeleteCtx(ctx context.Context, token string) error {
	op := engine.Op{Key: s.key(token), Delete: true, TTL: deleteMarkerTTL}
	_, err := s.eng.Commit(ctx, op)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("scsstore: delete: %w", err)
	}
	return nil
}
