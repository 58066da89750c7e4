package kiln

import (
	"context"
)

// CountSessions counts the sessions stored in the engine that have not
// ended (their touch records), paging through keys: it never holds more
// than the keys in memory. Needs an engine that implements engine.Lister.
func (m *Manager) CountSessions(ctx context.Context) (int, error) {
	keys, err := m.listAll(ctx, touchPattern)
	return len(keys), err
}

// ListSessions returns up to limit live sessions after cursor ("" for the
// first page), and the cursor of the next page ("" after the last). For
// consoles; each page costs a scan of the keys and a few reads per session.
func (m *Manager) ListSessions(ctx context.Context, cursor string, limit int) ([]SessionInfo, string, error) {
	if m.lister == nil {
		_, err := m.listAll(ctx, touchPattern)
		return nil, "", err
	}
	keys, err := m.lister.List(ctx, touchPattern, cursor, limit)
	if err != nil {
		return nil, "", engineErr("list sessions", err)
	}
	var out []SessionInfo
	for _, key := range keys {
		info, ok, err := m.info(ctx, sessionOfTouch(key))
		if err != nil {
			return nil, "", err
		}
		if ok {
			out = append(out, info)
		}
	}
	next := ""
	if len(keys) == limit {
		next = keys[len(keys)-1]
	}
	return out, next, nil
}
