package kiln

import (
	"time"

	"github.com/kilnhq/kiln/engine"
)

// saveInput is what the plan of a save is built from: records and the
// request's changes, never a Session (plan.go).
type saveInput struct {
	k         string     // the session key the save writes
	meta      metaRecord // the meta record to write, at its new version, before its index is updated
	metaRev   uint64     // the revision it replaces; 0 for a new key (IfNew)
	touchRev  uint64     // the touch record's revision, for an existing key
	changes   []change
	bound     string // the principal of the stored record (its index entry), for an existing key
	replaced  string // the key this save tombstones (a renewal), or ""
	userAgent string
	now       time.Time
}

func (in saveInput) existing() bool { return in.metaRev != 0 }

// planSave plans in (plan.go): the new attribute versions, the principal
// index entry and the touch record, then the meta record (IfRevision of
// the one it replaces, else IfNew), then the deletion of what it replaces.
// It returns the meta record the plan writes.
//
// The touch record is compare-and-set on the revision the request knows
// (IfNew for a new key), like the meta record: a save racing an end
// (whose touch write arms the destroy event) must not re-arm the idle
// timer.
func (m *Manager) planSave(in saveInput) (savePlan, metaRecord, error) {
	meta, tag := in.meta, randomToken()
	p := savePlan{tag: tag, version: meta.Version}
	dataTTL := meta.Deadline.Sub(in.now) + dataGrace
	if !in.existing() && m.leases != nil {
		lease, err := m.leases.Record(in.k)
		if err != nil {
			return p, meta, err
		}
		lease.IfNew = true
		p.prepare = append(p.prepare, lease) // first: its revision is revs.prepared[0]
	}
	attrs, cleanup, err := attrOps(in, tag, dataTTL)
	if err != nil {
		return p, meta, err
	}
	p.prepare, p.cleanup = append(p.prepare, attrs...), cleanup
	if err := m.planIndex(&p, in, dataTTL); err != nil {
		return p, meta, err
	}
	touch, err := m.touchOp(in.k, meta, in.now)
	if err != nil {
		return p, meta, err
	}
	touch.IfNew, touch.IfRevision = !in.existing(), in.touchRev
	p.touchAt = len(p.prepare)
	p.prepare = append(p.prepare, touch)
	meta.Attrs, meta.Tag = nextIndex(meta.Attrs, in.changes, meta.Version, tag), tag
	b, err := encode(&meta)
	if err != nil {
		return p, meta, err
	}
	p.commit = []engine.Op{{Key: metaKey(in.k), Value: b, TTL: dataTTL, IfNew: !in.existing(), IfRevision: in.metaRev}}
	return p, meta, nil
}

// attrOps returns the writes of the changed attributes' new versions and
// the deletes of the versions they replace.
func attrOps(in saveInput, tag string, ttl time.Duration) (prepare, cleanup []engine.Op, err error) {
	for _, c := range in.changes {
		if info, ok := in.meta.Attrs[c.name]; ok && in.existing() {
			cleanup = append(cleanup, engine.Op{Key: attrKey(in.k, c.name, info), Delete: true, TTL: dataGrace})
		}
		if c.deleted {
			continue
		}
		rec, err := encode(&attrRecord{Version: in.meta.Version, Value: c.value})
		if err != nil {
			return nil, nil, err
		}
		info := attrInfo{Version: in.meta.Version, Tag: tag}
		prepare = append(prepare, engine.Op{Key: attrKey(in.k, c.name, info), Value: rec, TTL: ttl, IfNew: true})
	}
	return prepare, cleanup, nil
}

// planIndex adds the principal index writes of in to p, and the admission
// check of a binding under Config.MaxSessionsPerPrincipal (limit.go).
func (m *Manager) planIndex(p *savePlan, in saveInput, ttl time.Duration) error {
	index, unindex, err := principalOps(in, ttl)
	if err != nil {
		return err
	}
	if len(index) > 0 && m.cfg.MaxSessionsPerPrincipal > 0 {
		p.admit = m.admission(in.meta.Principal, in.k, in.replaced, len(p.prepare))
		if !m.cfg.RefuseOverLimit {
			p.bound = index[0].Key
		}
	}
	p.prepare = append(p.prepare, index...)
	p.cleanup = append(p.cleanup, unindex...)
	return nil
}

// principalOps returns the index writes of in: the entry of the principal
// it binds (prepare) and the removal of the one it unbinds (cleanup).
func principalOps(in saveInput, ttl time.Duration) (prepare, cleanup []engine.Op, err error) {
	principal := in.meta.Principal
	if in.existing() && principal == in.bound {
		return nil, nil, nil
	}
	if in.existing() && in.bound != "" {
		cleanup = append(cleanup, engine.Op{Key: principalKey(in.bound, in.k), Delete: true, TTL: dataGrace})
	}
	if principal == "" {
		return nil, cleanup, nil
	}
	b, err := encode(&principalEntry{Created: in.meta.Created, UserAgent: in.userAgent, Bound: in.now})
	if err != nil {
		return nil, nil, err
	}
	return []engine.Op{{Key: principalKey(principal, in.k), Value: b, TTL: ttl}}, cleanup, nil
}

// touchOp writes the touch record of session k; its TTL is the idle timer,
// capped by the session's deadline.
func (m *Manager) touchOp(k string, meta metaRecord, now time.Time) (engine.Op, error) {
	rec, err := encode(&touchRecord{LastAccess: now})
	if err != nil {
		return engine.Op{}, err
	}
	ttl := min(m.idleOf(meta)+m.touchInterval, meta.Deadline.Sub(now))
	return engine.Op{Key: touchKey(k), Value: rec, TTL: max(ttl, time.Second)}, nil
}

// idleOf returns the idle timeout of a session with meta record meta.
func (m *Manager) idleOf(meta metaRecord) time.Duration {
	if meta.MaxIdle > 0 {
		return meta.MaxIdle
	}
	return m.cfg.IdleTimeout
}

// nextIndex returns the attribute index attrs after changes saved as
// version by the attempt tagged tag.
func nextIndex(attrs map[string]attrInfo, changes []change, version uint64, tag string) map[string]attrInfo {
	next := make(map[string]attrInfo, len(attrs)+len(changes))
	for name, info := range attrs {
		next[name] = info
	}
	for _, c := range changes {
		if c.deleted {
			delete(next, c.name)
		} else {
			next[c.name] = attrInfo{Version: version, Size: len(c.value), Sum: digest(c.value), Tag: tag}
		}
	}
	return next
}
