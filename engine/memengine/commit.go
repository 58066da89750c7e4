package memengine

import (
	"context"
	"fmt"

	"github.com/kilnhq/kiln/engine"
)

// Get returns the key's live value, or engine.ErrNotFound.
func (e *Engine) Get(ctx context.Context, key string) (engine.Entry, error) {
	if err := e.enter(ctx); err != nil {
		return engine.Entry{}, err
	}
	if err := engine.CheckKey(key); err != nil {
		return engine.Entry{}, err
	}
	ent, ok := e.st.get(key)
	if !ok {
		return engine.Entry{}, fmt.Errorf("get %s: %w", key, engine.ErrNotFound)
	}
	return ent, nil
}

// Commit applies ops atomically; see engine.Store.
func (e *Engine) Commit(ctx context.Context, ops ...engine.Op) ([]uint64, error) {
	if err := e.enter(ctx); err != nil {
		return nil, err
	}
	if err := checkOps(ops, e.st.opts.MaxOps); err != nil {
		return nil, err
	}
	return e.st.commit(ops)
}

// checkOps validates a commit before it touches the store.
func checkOps(ops []engine.Op, maxOps int) error {
	if len(ops) > maxOps {
		return fmt.Errorf("commit of %d ops, max %d: %w", len(ops), maxOps, engine.ErrTooLarge)
	}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if err := checkOp(op); err != nil {
			return err
		}
		if seen[op.Key] {
			return fmt.Errorf("%w: key %s appears twice in one commit", engine.ErrInvalid, op.Key)
		}
		seen[op.Key] = true
	}
	return nil
}

func checkOp(op engine.Op) error {
	if err := engine.CheckKey(op.Key); err != nil {
		return err
	}
	if op.TTL < 0 {
		return fmt.Errorf("%w: key %s: negative TTL %v", engine.ErrInvalid, op.Key, op.TTL)
	}
	if op.IfNew && op.IfRevision != 0 {
		return fmt.Errorf("%w: key %s: both IfNew and IfRevision", engine.ErrInvalid, op.Key)
	}
	return nil
}

// commit checks every condition, then applies every op, under one lock.
func (s *store) commit(ops []engine.Op) ([]uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		if err := s.checkCondition(op); err != nil {
			return nil, err
		}
	}
	revs := make([]uint64, len(ops))
	for i, op := range ops {
		revs[i] = s.apply(op)
	}
	return revs, nil
}

// checkCondition tests op's IfNew and IfRevision. Called with s.mu held.
func (s *store) checkCondition(op engine.Op) error {
	var cur uint64
	if r := s.keys[op.Key]; r != nil {
		cur = r.rev
	}
	if op.IfNew && cur != 0 {
		return fmt.Errorf("commit %s: not new (revision %d): %w", op.Key, cur, engine.ErrConflict)
	}
	if op.IfRevision != 0 && op.IfRevision != cur {
		return fmt.Errorf("commit %s: revision %d, want %d: %w", op.Key, cur, op.IfRevision, engine.ErrConflict)
	}
	return nil
}

// apply writes one op and tells the watchers. Called with s.mu held.
func (s *store) apply(op engine.Op) uint64 {
	s.rev++
	rec := &record{rev: s.rev, deleted: op.Delete}
	ev := engine.Event{Kind: engine.EventDelete, Key: op.Key, Revision: s.rev}
	if !op.Delete {
		rec.value = cloneValue(op.Value)
		ev.Kind, ev.Value = engine.EventPut, rec.value
	}
	s.replace(op.Key, rec, op.TTL)
	s.notify(ev)
	return rec.rev
}
