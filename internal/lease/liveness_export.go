package lease

import "time"

// Incarnation returns this node's current incarnation: it changes whenever
// the node may have lost its leases (docs/leases.md).
func (t *Table) Incarnation() string { return t.live.incarnation() }

// Liveness decodes the value of a liveness record n.<node>: the
// incarnation it names and when the node wrote it (by its clock).
func Liveness(value []byte) (inc string, at time.Time, ok bool) {
	var rec livenessRecord
	if decode(value, &rec) != nil || rec.Inc == "" {
		return "", time.Time{}, false
	}
	return rec.Inc, rec.At, true
}
