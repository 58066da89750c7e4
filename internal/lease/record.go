package lease

import (
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/internal/keys"
)

// record is the value of l.<k>; an empty Node means free.
type record struct {
	Node string `cbor:"n,omitempty"`
	Inc  string `cbor:"i,omitempty"`
}

// revokeRequest asks the holder of session K to hand its lease to To.
type revokeRequest struct {
	K  string `cbor:"k"`
	To record `cbor:"t"`
}

// revokeReply answers a revokeRequest.
type revokeReply struct {
	Released bool   `cbor:"r,omitempty"` // the lease record names the asker now, at Rev
	Rev      uint64 `cbor:"v,omitempty"`
	// The holder's copy: meta and touch revisions, last access. The asker
	// keeps its own copy only if it has this meta revision, and takes the
	// touch state (which changes without the meta record) from here.
	MetaRev    uint64    `cbor:"m,omitempty"`
	TouchRev   uint64    `cbor:"u,omitempty"`
	LastAccess time.Time `cbor:"a,omitempty"`
	Busy       bool      `cbor:"b,omitempty"` // the request in flight did not finish in time
	NotHeld    bool      `cbor:"h,omitempty"` // the record does not name the holder's current incarnation
	Err        string    `cbor:"e,omitempty"`
}

// Record returns the write of k's lease record naming this node under
// incarnation inc, for the save that creates session k (IfNew is the
// caller's to set). The save then calls Adopt with inc and the revision
// it got.
func (t *Table) Record(k string) (op engine.Op, inc string, err error) {
	inc = t.live.incarnation()
	op, err = t.recordOp(k, inc)
	return op, inc, err
}

func (t *Table) recordOp(k, inc string) (engine.Op, error) {
	rec, err := encode(&record{Node: t.cfg.Node, Inc: inc})
	if err != nil {
		return engine.Op{}, err
	}
	return engine.Op{Key: leaseKey(k), Value: rec, TTL: t.cfg.RecordTTL}, nil
}

// Holder returns the node a lease record's value names ("" if free or unreadable).
func Holder(value []byte) string {
	var rec record
	if decode(value, &rec) != nil {
		return ""
	}
	return rec.Node
}

func leaseKey(k string) string       { return keys.Lease(k) }
func metaKey(k string) string        { return keys.Meta(k) }
func livenessKey(node string) string { return keys.Liveness(node) }
func revokeSubject(node string) string {
	return keys.Revoke(node)
}

// The records are CBOR, encoded as the session layer encodes its own
// (deterministic, times as RFC 3339 under tag 0).
var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	opts := cbor.CoreDetEncOptions()
	opts.Time = cbor.TimeRFC3339Nano
	opts.TimeTag = cbor.EncTagRequired
	var err error
	if encMode, err = opts.EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{}).DecMode(); err != nil {
		panic(err)
	}
}

func encode(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("lease: encode: %w", err)
	}
	return b, nil
}

func decode(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("lease: decode: %w", err)
	}
	return nil
}

// engineErr wraps an engine failure with what was being done, keeping the
// engine's sentinel (engine.ErrUnavailable, engine.ErrConflict, ...) in the
// chain for the session layer to map.
func engineErr(op string, err error) error { return fmt.Errorf("%s: %w", op, err) }
