package kiln

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// The admin API: what an operator's tool (the console, package console)
// needs beyond what a request does. A session is named here by its store
// key, the hash of its ID that docs/storage.md calls k (its first 8
// characters are its fingerprint): never by its ID, which the store does
// not hold and a console must not show.

// ErrBadKey is returned for a store key that is not one (43 base64url
// characters, the SHA-256 of a session ID).
var ErrBadKey = errors.New("kiln: not a session store key")

// SessionDetail is what the store holds of one session, for consoles.
type SessionDetail struct {
	SessionInfo
	Key      string    // the store key k (not the session ID)
	Version  uint64    // of its meta record: one more per save
	Deadline time.Time // the absolute deadline (Config.Lifetime after creation)
	// MaxIdle is the session's own idle timeout (a remembered session's);
	// zero means the app's Config.IdleTimeout, which the store does not
	// record.
	MaxIdle    time.Duration
	Remembered bool // Session.SetRememberMe
	// Attributes are the session's values as stored: CBOR, self-describing
	// (decode them into any to display them). An attribute whose record is
	// missing (a save in flight replaced it) is absent.
	Attributes []StoredAttribute
}

// StoredAttribute is one attribute of a SessionDetail.
type StoredAttribute struct {
	Name  string
	Size  int    // encoded size, as MaxAttributeSize counts it
	Value []byte // CBOR
}

// SessionDetail reads live session key (a store key, see ErrBadKey); ok
// is false if it does not exist or has ended. It takes no lease: a save
// in flight may make it a moment old.
func (m *Manager) SessionDetail(ctx context.Context, key string) (SessionDetail, bool, error) {
	if !validKey(key) {
		return SessionDetail{}, false, ErrBadKey
	}
	st, ok, err := m.loadRecord(ctx, key)
	if err != nil || !ok || st.meta.Ended != "" {
		return SessionDetail{}, false, err
	}
	info, ok, err := m.info(ctx, key)
	if err != nil || !ok {
		return SessionDetail{}, false, err
	}
	d := SessionDetail{SessionInfo: info, Key: key, Version: st.meta.Version, Deadline: st.meta.Deadline,
		MaxIdle: st.meta.MaxIdle, Remembered: st.meta.Remember}
	d.Attributes, err = m.storedAttributes(ctx, key, st.meta.Attrs)
	return d, true, err
}

// storedAttributes returns the attributes the index names, by name: an
// inline one from the index itself, any other from its record.
func (m *Manager) storedAttributes(ctx context.Context, k string, index map[string]attrInfo) ([]StoredAttribute, error) {
	var out []StoredAttribute
	for name, ai := range index {
		if ai.inline() {
			out = append(out, StoredAttribute{Name: name, Size: ai.Size, Value: []byte(ai.Value)})
			continue
		}
		e, err := m.getOpt(ctx, attrKey(k, name, ai))
		if err != nil {
			return nil, err
		}
		var rec attrRecord
		if e == nil || decode(e.Value, &rec) != nil {
			continue
		}
		out = append(out, StoredAttribute{Name: name, Size: ai.Size, Value: []byte(rec.Value)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// InvalidateKey ends live session key (a store key) as Session.Invalidate
// would (ReasonInvalidated): under its lease, so that when it returns no
// node serves it any more, including one that held it in memory. ended is
// false if it had ended already or never existed. An error may leave it
// ended or not (an ambiguous engine write, ErrUnavailable): callers must
// say so rather than report either.
func (m *Manager) InvalidateKey(ctx context.Context, key string) (ended bool, err error) {
	if !validKey(key) {
		return false, ErrBadKey
	}
	ended, err = m.endWhere(ctx, key, ReasonInvalidated, func(metaRecord) bool { return true })
	if err != nil {
		return false, fmt.Errorf("invalidate session %s: %w", key[:8], err)
	}
	return ended, nil
}

// endWhere ends live session k if its meta record passes keep, holding
// its lease (and so its request slot) while it does.
func (m *Manager) endWhere(ctx context.Context, k string, why DestroyReason, keep func(metaRecord) bool) (bool, error) {
	if m.leases != nil {
		e, err := m.acquireLease(ctx, k)
		if err != nil || e == nil {
			return false, err
		}
		defer m.leases.Forget(e)
	}
	st, ok, err := m.loadRecord(ctx, k)
	if err != nil || !ok || st.meta.Ended != "" || !keep(st.meta) {
		return false, err
	}
	p, err := m.planEnd(k, st, why)
	if err != nil {
		return false, err
	}
	_, err = m.run(ctx, "end session", p)
	return err == nil, err
}

// validKey reports whether key looks like a store key: the base64url
// (no padding) of 32 bytes.
func validKey(key string) bool {
	if len(key) != 43 {
		return false
	}
	b, err := idEncoding.DecodeString(key)
	return err == nil && len(b) == 32
}

// DecodeStored decodes a stored value (StoredAttribute.Value) into v as
// kiln decodes attributes: into an *any, CBOR maps become map[string]any
// (a map with other keys is an error), times time.Time, byte strings
// []byte, so encoding/json can print the result.
func DecodeStored(value []byte, v any) error {
	if err := decMode.Unmarshal(value, v); err != nil {
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return nil
}
