package scsstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/kilnhq/kiln/engine"
)

// listPage is how many keys one List call returns.
const listPage = 500

// All returns every live session by token; see AllCtx.
func (s *Store) All() (map[string][]byte, error) {
	return s.AllCtx(context.Background())
}

// AllCtx returns every live session by token. It needs Options.Iterable
// and an engine that lists keys (engine.Lister), else ErrNotIterable.
// Sessions committed while Iterable was off carry no token and are left
// out. It scans the whole store: keep it off the request path.
func (s *Store) AllCtx(ctx context.Context) (map[string][]byte, error) {
	l, ok := s.eng.(engine.Lister)
	if !ok || !s.opts.Iterable {
		return nil, ErrNotIterable
	}
	all := map[string][]byte{}
	for after := ""; ; {
		keys, err := l.List(ctx, s.pattern(), after, listPage)
		if err != nil {
			return nil, fmt.Errorf("scsstore: all: %w", err)
		}
		if err := s.collect(ctx, keys, all); err != nil {
			return nil, err
		}
		if len(keys) < listPage {
			return all, nil
		}
		after = keys[len(keys)-1]
	}
}

// collect reads keys into all; a key gone since List is skipped.
func (s *Store) collect(ctx context.Context, keys []string, all map[string][]byte) error {
	for _, k := range keys {
		e, err := s.eng.Get(ctx, k)
		if errors.Is(err, engine.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("scsstore: all: %w", err)
		}
		token, data, err := decodeValue(e.Value)
		if err != nil {
			return fmt.Errorf("scsstore: all: %s: %w", k, err)
		}
		if token != "" {
			all[token] = data
		}
	}
	return nil
}
