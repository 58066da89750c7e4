package kiln

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/internal/keys"
	"github.com/kilnhq/kiln/internal/lease"
)

// The principal index: one record p.<h>.<k> per session k bound to a
// principal whose hash is h. It is written by the save that binds the
// principal, deleted when the session ends or changes principal, and has
// the session's data TTL, so it never outlives the session's deadline.

// principalEntry is the value of p.<h>.<k>.
type principalEntry struct {
	Created   time.Time `cbor:"c"`
	UserAgent string    `cbor:"u,omitempty"`
}

const maxUserAgent = 256

func principalHash(principal string) string {
	sum := sha256.Sum256([]byte("principal:" + principal))
	return idEncoding.EncodeToString(sum[:16])
}

func principalKey(principal, k string) string { return keys.Principal(principalHash(principal), k) }

// principalOps returns the index writes of a save under key k: the entry
// of the principal it binds (prepare) and the removal of the one it
// unbinds (cleanup).
func (s *Session) principalOps(k string, existing bool, ttl time.Duration) (prepare, cleanup []engine.Op, err error) {
	moved := !existing || s.meta.Principal != s.loadedPrincipal
	if !moved {
		return nil, nil, nil
	}
	if existing && s.loadedPrincipal != "" {
		cleanup = append(cleanup, engine.Op{Key: principalKey(s.loadedPrincipal, k), Delete: true, TTL: dataGrace})
	}
	if s.meta.Principal == "" {
		return nil, cleanup, nil
	}
	b, err := encode(&principalEntry{Created: s.meta.Created, UserAgent: s.userAgent})
	if err != nil {
		return nil, nil, err
	}
	return []engine.Op{{Key: principalKey(s.meta.Principal, k), Value: b, TTL: ttl}}, cleanup, nil
}

// principalKeys returns the session keys indexed under principal.
func (m *Manager) principalKeys(ctx context.Context, principal string) ([]string, error) {
	keys, err := m.listAll(ctx, keys.PrincipalPattern(principalHash(principal)))
	for i, key := range keys {
		keys[i] = key[strings.LastIndexByte(key, '.')+1:]
	}
	return keys, err
}

// listAll pages through every key matching pattern.
func (m *Manager) listAll(ctx context.Context, pattern string) ([]string, error) {
	if m.lister == nil {
		return nil, errors.New("kiln: the engine cannot enumerate keys (engine.Lister)")
	}
	var all []string
	after := ""
	for {
		page, err := m.lister.List(ctx, pattern, after, 1000)
		if err != nil {
			return all, engineErr("list "+pattern, err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all, nil
		}
		after = page[len(page)-1]
	}
}

// Sessions lists the live sessions bound to principal, oldest first.
func (m *Manager) Sessions(ctx context.Context, principal string) ([]SessionInfo, error) {
	keys, err := m.principalKeys(ctx, principal)
	if err != nil {
		return nil, err
	}
	var out []SessionInfo
	for _, k := range keys {
		info, ok, err := m.info(ctx, k)
		if err != nil {
			return nil, err
		}
		if ok && info.Principal == principal {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// info describes live session k; ok is false if it has ended.
func (m *Manager) info(ctx context.Context, k string) (SessionInfo, bool, error) {
	meta, touch, err := m.getBoth(ctx, metaKey(k), touchKey(k))
	if err != nil || meta == nil || touch == nil {
		return SessionInfo{}, false, err
	}
	var rec metaRecord
	var tr touchRecord
	if decode(meta.Value, &rec) != nil || decode(touch.Value, &tr) != nil || rec.Ended != "" {
		return SessionInfo{}, false, nil
	}
	info := SessionInfo{Fingerprint: k[:8], Principal: rec.Principal, Created: rec.Created, LastAccess: tr.LastAccess}
	if e, err := m.eng.Get(ctx, principalKey(rec.Principal, k)); err == nil {
		var pe principalEntry
		if decode(e.Value, &pe) == nil {
			info.UserAgent = pe.UserAgent
		}
	}
	if e, err := m.eng.Get(ctx, leaseKey(k)); err == nil {
		info.Node = lease.Holder(e.Value)
	}
	return info, true, nil
}

// InvalidatePrincipal ends every session bound to principal ("log out
// everywhere") and returns how many it ended. When it returns, no node
// serves any of them any more, including the nodes that held them in
// memory: each is ended under its lease, as a request would. Their destroy
// events (ReasonLoggedOutEverywhere) follow within seconds.
//
// Called from a handler with the request's context, it ends the request's
// own session too, like Invalidate: when the response starts.
func (m *Manager) InvalidatePrincipal(ctx context.Context, principal string) (int, error) {
	keys, err := m.principalKeys(ctx, principal)
	if err != nil {
		return 0, err
	}
	n := 0
	own := FromContext(ctx)
	for _, k := range keys {
		if own != nil && own.m == m && own.storedKey() == k && own.Principal() == principal {
			own.end(ReasonLoggedOutEverywhere) // its request holds its lease: end it at save
			n++
			continue
		}
		ended, err := m.endKey(ctx, k, principal, ReasonLoggedOutEverywhere)
		if err != nil {
			return n, fmt.Errorf("invalidate sessions of a principal: %w", err)
		}
		if ended {
			n++
		}
	}
	return n, nil
}

// endKey ends live session k if it is still bound to principal, holding
// its lease (and so its request slot) while it does.
func (m *Manager) endKey(ctx context.Context, k, principal string, why DestroyReason) (bool, error) {
	if m.leases != nil {
		e, err := m.acquireLease(ctx, k)
		if err != nil || e == nil {
			return false, err
		}
		defer m.leases.Forget(e)
	}
	meta, touch, err := m.getBoth(ctx, metaKey(k), touchKey(k))
	if err != nil || meta == nil {
		return false, err
	}
	s := &Session{m: m, ctx: ctx, key: k, metaRev: meta.Revision, lastAccess: m.now()}
	if decode(meta.Value, &s.meta) != nil || s.meta.Ended != "" || s.meta.Principal != principal {
		return false, nil
	}
	if touch != nil {
		var tr touchRecord
		if decode(touch.Value, &tr) == nil {
			s.lastAccess = tr.LastAccess
		}
	}
	p, err := s.planEnd(k, why)
	if err != nil {
		return false, err
	}
	_, err = s.run(ctx, "end session", p, -1)
	return err == nil, err
}

// enforceLimit applies Config.MaxSessionsPerPrincipal before a save binds
// s to its principal: it ends the oldest other sessions of the principal,
// or refuses.
func (s *Session) enforceLimit(ctx context.Context) error {
	max := s.m.cfg.MaxSessionsPerPrincipal
	if max == 0 || s.meta.Principal == "" || s.meta.Principal == s.loadedPrincipal {
		return nil
	}
	others, err := s.m.Sessions(ctx, s.meta.Principal)
	if err != nil {
		return err
	}
	excess := len(others) + 1 - max
	if excess <= 0 {
		return nil
	}
	if s.m.cfg.RefuseOverLimit {
		return fmt.Errorf("bind principal: %w: %d of %d", ErrTooManySessions, len(others), max)
	}
	return s.m.endOldest(ctx, s.meta.Principal, others[:excess])
}

func (m *Manager) endOldest(ctx context.Context, principal string, oldest []SessionInfo) error {
	keys, err := m.principalKeys(ctx, principal)
	if err != nil {
		return err
	}
	for _, info := range oldest {
		for _, k := range keys {
			if k[:8] == info.Fingerprint {
				if _, err := m.endKey(ctx, k, principal, ReasonLoggedOutEverywhere); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
