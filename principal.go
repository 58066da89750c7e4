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
// own session too, like Invalidate: when the response starts. That session
// counts as the principal's if it is bound to it as stored or as the
// request set it (SetPrincipal("") and then InvalidatePrincipal, a logout,
// ends it).
//
// A session renewed (RenewID) while this runs is found under its old key
// ended, and its new key may not have been listed: the index is listed
// again after a pass that met such a key (its new entry was written before
// the renewal's commit), at most maxPrincipalPasses times.
func (m *Manager) InvalidatePrincipal(ctx context.Context, principal string) (int, error) {
	n, seen := 0, make(map[string]bool)
	for pass := 0; pass < maxPrincipalPasses; pass++ {
		keys, err := m.principalKeys(ctx, principal)
		if err != nil {
			return n, err
		}
		ended, renewed, err := m.endPass(ctx, principal, keys, seen)
		n += ended
		if err != nil || !renewed {
			return n, err
		}
	}
	return n, nil
}

// maxPrincipalPasses bounds the listings of one InvalidatePrincipal.
const maxPrincipalPasses = 4

// endPass ends the sessions of keys not seen yet; renewed reports whether
// one of them had been renewed (its new key may be missing from keys).
func (m *Manager) endPass(ctx context.Context, principal string, keys []string, seen map[string]bool) (n int, renewed bool, err error) {
	own := FromContext(ctx)
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if own != nil && own.m == m && own.endsAtSave(k) {
			// Its request holds its lease: end it at save, if it is bound
			// to principal as stored or as this request left it.
			if own.boundTo(principal) {
				own.end(ReasonLoggedOutEverywhere)
				n++
			}
			continue
		}
		ended, why, err := m.endKey(ctx, k, principal, ReasonLoggedOutEverywhere)
		if err != nil {
			return n, renewed, fmt.Errorf("invalidate sessions of a principal: %w", err)
		}
		if ended {
			n++
		}
		renewed = renewed || why == ReasonRenewed
	}
	return n, renewed, nil
}

// endKey ends live session k if it is still bound to principal, holding
// its lease (and so its request slot) while it does. If k had ended
// already, and its meta record says so, ended says why.
func (m *Manager) endKey(ctx context.Context, k, principal string, why DestroyReason) (done bool, ended DestroyReason, err error) {
	if m.leases != nil {
		e, err := m.acquireLease(ctx, k)
		if err != nil {
			return false, "", err
		}
		if e == nil {
			return false, m.endedWhy(ctx, k), nil
		}
		defer m.leases.Forget(e)
	}
	st, ok, err := m.loadRecord(ctx, k)
	if err != nil || !ok || st.meta.Ended != "" || st.meta.Principal != principal {
		return false, st.meta.Ended, err
	}
	p, err := m.planEnd(k, st, why)
	if err != nil {
		return false, "", err
	}
	_, err = m.run(ctx, "end session", p)
	return err == nil, "", err
}

// endedWhy returns why session k ended, as its tombstone says ("" if it
// cannot be read).
func (m *Manager) endedWhy(ctx context.Context, k string) DestroyReason {
	st, ok, err := m.loadRecord(ctx, k)
	if err != nil || !ok {
		return ""
	}
	return st.meta.Ended
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
