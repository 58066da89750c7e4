package memengine

import (
	"context"
	"fmt"
	"slices"

	"github.com/kilnhq/kiln/engine"
)

var _ engine.Lister = (*Engine)(nil)

// List returns up to limit keys matching pattern that have a live value,
// in ascending byte order, after the key after; see engine.Lister. It
// walks every key the store remembers, under the store lock.
func (e *Engine) List(ctx context.Context, pattern, after string, limit int) ([]string, error) {
	if err := e.enter(ctx); err != nil {
		return nil, err
	}
	if err := engine.CheckPattern(pattern); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("list %s: %w: limit %d, want > 0", pattern, engine.ErrInvalid, limit)
	}
	return e.st.list(pattern, after, limit), nil
}

// list is List on the store: live keys matching pattern, above after,
// sorted, at most limit.
func (s *store) list(pattern, after string, limit int) []string {
	s.mu.Lock()
	keys := []string{}
	for key, r := range s.keys {
		if !r.deleted && key > after && engine.Match(pattern, key) {
			keys = append(keys, key)
		}
	}
	s.mu.Unlock()
	slices.Sort(keys)
	if len(keys) > limit {
		keys = slices.Clip(keys[:limit])
	}
	return keys
}
