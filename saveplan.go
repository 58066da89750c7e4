package kiln

import (
	"slices"
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
	// lastAccess is the access time the touch record holds; touchDue says
	// the save changes what the idle timer depends on (idle timeout,
	// lifetime): then the touch record is written whatever its age.
	lastAccess time.Time
	touchDue   bool

	// index is meta's attribute index while meta.Attrs is nil: the sorted
	// slice of a session restored from the near cache (index.go), read
	// through indexed and allIndex without building a map.
	index []indexEntry
}

func (in saveInput) existing() bool { return in.metaRev != 0 }

// indexed returns the index entry of the attribute under name.
func (in saveInput) indexed(name string) (attrInfo, bool) {
	return lookupIndex(in.meta.Attrs, in.index, name)
}

// planSave plans in (plan.go): the records of the changed attributes that
// are not inline, the principal index entry and, when due, the touch record,
// then the meta record (IfRevision of the one it replaces, else IfNew),
// then the deletion of the records it replaces. A save that changes only
// inline attributes of a session touched within TouchInterval is the meta
// record's compare-and-set alone. It returns the meta record the plan
// writes.
//
// The touch record is compare-and-set on the revision the request knows
// (IfNew for a new key), like the meta record: a save racing an end
// (whose touch write arms the destroy event) must not re-arm the idle
// timer.
func (m *Manager) planSave(in saveInput) (savePlan, metaRecord, error) {
	meta, tag := in.meta, randomToken()
	p := savePlan{tag: tag, version: meta.Version, touchAt: -1}
	dataTTL := meta.Deadline.Sub(in.now) + dataGrace
	if !in.existing() && m.leases != nil {
		lease, inc, err := m.leases.Record(in.k)
		if err != nil {
			return p, meta, err
		}
		p.leaseInc = inc
		lease.IfNew = true
		p.prepare = append(p.prepare, lease) // first: its revision is revs.prepared[0]
	}
	next, err := m.planAttrs(&p, in, dataTTL)
	if err != nil {
		return p, meta, err
	}
	if err := m.planIndex(&p, in, dataTTL); err != nil {
		return p, meta, err
	}
	if err := m.planTouch(&p, in, meta); err != nil {
		return p, meta, err
	}
	meta.Attrs, meta.Tag = next, tag
	b, err := encode(&meta)
	if err != nil {
		return p, meta, err
	}
	p.commit = []engine.Op{{Key: metaKey(in.k), Value: b, TTL: dataTTL, IfNew: !in.existing(), IfRevision: in.metaRev}}
	return p, meta, nil
}

// planAttrs adds the records of in's changed attributes that are not
// inline to p, and the deletes of the records they replace, and returns the
// attribute index the meta record will hold.
func (m *Manager) planAttrs(p *savePlan, in saveInput, ttl time.Duration) (map[string]attrInfo, error) {
	changes := in.changes
	if !m.inlineOn() {
		changes = slices.Concat(changes, outlined(in, changes))
	}
	all, n := allIndex(in.meta.Attrs, in.index)
	next := nextIndexOf(all, n, changes, in.meta.Version, p.tag, m.inlineOn())
	attrs, cleanup, err := attrOps(in, changes, next, ttl)
	if err != nil {
		return nil, err
	}
	p.prepare, p.cleanup = append(p.prepare, attrs...), cleanup
	return next, nil
}

// planTouch adds the touch record to p if it is due: always for a new key;
// for an existing one when the stored access time is TouchInterval old (as
// for a read), or when the save changes what the idle timer depends on
// (in.touchDue). Skipping it keeps the precision a read has: the idle
// timer set at the last touch runs at least IdleTimeout past now.
func (m *Manager) planTouch(p *savePlan, in saveInput, meta metaRecord) error {
	if in.existing() && !in.touchDue && m.touchFresh(in.now, in.lastAccess) {
		return nil
	}
	touch, err := m.touchOp(in.k, meta, in.now)
	if err != nil {
		return err
	}
	touch.IfNew, touch.IfRevision = !in.existing(), in.touchRev
	p.touchAt = len(p.prepare)
	p.prepare = append(p.prepare, touch)
	return nil
}

// touchFresh reports whether the access time last, stored in the touch
// record, is recent enough at now that a request need not write it again:
// less than TouchInterval old, and not in the future. An access time in the
// future was written by a node whose clock is ahead of this one's; the
// engine's idle timer started when it was written, so by this node's
// clock it may run out before last+IdleTimeout: skipping the write until
// this clock reaches it could end a session in use.
func (m *Manager) touchFresh(now, last time.Time) bool {
	age := now.Sub(last)
	return age >= 0 && age < m.touchInterval
}

// attrOps returns the writes of the new records of changes (those next
// does not hold inline) and the deletes of the records they replace.
func attrOps(in saveInput, changes []change, next map[string]attrInfo, ttl time.Duration) (prepare, cleanup []engine.Op, err error) {
	for _, c := range changes {
		if info, ok := in.indexed(c.name); ok && !info.inline() && in.existing() {
			cleanup = append(cleanup, engine.Op{Key: attrKey(in.k, c.name, info), Delete: true, TTL: dataGrace})
		}
		info := next[c.name]
		if c.deleted || info.inline() {
			continue
		}
		rec, err := encode(&attrRecord{Version: info.Version, Value: c.value})
		if err != nil {
			return nil, nil, err
		}
		prepare = append(prepare, engine.Op{Key: attrKey(in.k, c.name, info), Value: rec, TTL: ttl, IfNew: true})
	}
	return prepare, cleanup, nil
}

// outlined returns the inline attributes of attrs that changes leaves
// alone, as changes: with inline storage off they move to records of their
// own, so that the record becomes readable by format-1 code.
func outlined(in saveInput, changes []change) []change {
	changed := make(map[string]bool, len(changes))
	for _, c := range changes {
		changed[c.name] = true
	}
	var out []change
	all, _ := allIndex(in.meta.Attrs, in.index)
	for name, info := range all {
		if info.inline() && !changed[name] {
			out = append(out, change{name: name, value: info.Value})
		}
	}
	return out
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
