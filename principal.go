package kiln

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kilnhq/kiln/internal/keys"
	"github.com/kilnhq/kiln/internal/lease"
)

// The principal index: one record p.<h>.<k> per session k bound to a
// principal whose hash is h. It is written by the save that binds the
// principal, deleted when the session ends or changes principal, and has
// the session's data TTL (deadline − now + dataGrace), so it outlives the
// session's deadline by dataGrace at most.

// principalEntry is the value of p.<h>.<k>.
type principalEntry struct {
	Created   time.Time `cbor:"c"`
	UserAgent string    `cbor:"u,omitempty"`
	// Bound is when the save that wrote it bound the session, by that
	// node's clock: an entry whose meta record is not written yet counts
	// against the limit for bindGrace after it (limit.go).
	Bound time.Time `cbor:"b,omitempty"`
	// Evicted: a later binding of the principal ended this session to
	// stay within Config.MaxSessionsPerPrincipal (limit.go).
	Evicted bool `cbor:"e,omitempty"`
}

const maxUserAgent = 256

func principalHash(principal string) string {
	sum := sha256.Sum256([]byte("principal:" + principal))
	return idEncoding.EncodeToString(sum[:16])
}

func principalKey(principal, k string) string { return keys.Principal(principalHash(principal), k) }

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
	info := SessionInfo{Fingerprint: k[:8], Key: k, Principal: rec.Principal, Created: rec.Created, LastAccess: tr.LastAccess}
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
// own session too, like Invalidate: when the response starts. That session
// counts as the principal's if it is bound to it as stored or as the
// request set it (SetPrincipal("") and then InvalidatePrincipal, a logout,
// ends it).
func (m *Manager) InvalidatePrincipal(ctx context.Context, principal string) (int, error) {
	done := map[string]bool{}
	n := 0
	for pass := 0; ; pass++ {
		keys, err := m.principalKeys(ctx, principal)
		if err != nil {
			return n, err
		}
		fresh := 0
		for _, k := range keys {
			if done[k] {
				continue
			}
			done[k], fresh = true, fresh+1
			ended, err := m.endPrincipalKey(ctx, k, principal)
			if err != nil {
				return n, fmt.Errorf("invalidate sessions of a principal: %w", err)
			}
			if ended {
				n++
			}
		}
		// A session renewed while this ran is skipped under its old key
		// (ended: renewed) and has a new key, indexed before its renewal
		// committed: list again until a pass finds no key it has not seen.
		if fresh == 0 || pass == maxLogoutPasses {
			return n, nil
		}
	}
}

// maxLogoutPasses bounds InvalidatePrincipal's listings; each pass after
// the first only finds sessions renewed while the previous one ran.
const maxLogoutPasses = 8

// endPrincipalKey ends session k of principal for InvalidatePrincipal; the
// calling request's own session is ended at its save instead, because the
// request holds its lease.
func (m *Manager) endPrincipalKey(ctx context.Context, k, principal string) (bool, error) {
	own := FromContext(ctx)
	if own != nil && own.m == m && own.endsAtSave(k) {
		// Bound to principal as stored or as this request left it (a
		// logout clears it first): end it at save. Never wait for its
		// lease: this request holds it.
		if !own.boundTo(principal) {
			return false, nil
		}
		own.end(ReasonLoggedOutEverywhere)
		return true, nil
	}
	return m.endKey(ctx, k, principal, ReasonLoggedOutEverywhere)
}

// endKey ends live session k if it is still bound to principal, holding
// its lease (and so its request slot) while it does.
func (m *Manager) endKey(ctx context.Context, k, principal string, why DestroyReason) (bool, error) {
	return m.endWhere(ctx, k, why, func(rec metaRecord) bool { return rec.Principal == principal })
}

// loadRecord reads what the engine holds of session k; ok is false if it
// has no meta record (or an undecodable one).
func (m *Manager) loadRecord(ctx context.Context, k string) (stored, bool, error) {
	meta, touch, err := m.getBoth(ctx, metaKey(k), touchKey(k))
	if err != nil || meta == nil {
		return stored{}, false, err
	}
	st := stored{metaRev: meta.Revision, lastAccess: m.now()}
	if decode(meta.Value, &st.meta) != nil {
		return stored{}, false, nil
	}
	var tr touchRecord
	if touch != nil && decode(touch.Value, &tr) == nil {
		st.lastAccess = tr.LastAccess
	}
	return st, true, nil
}
