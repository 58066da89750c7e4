package kiln

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// The meta record has two stored forms (docs/storage.md, "Formats"):
//
//   - format 1, every release before inline attributes: the attribute
//     index under a; every attribute has a record of its own.
//   - format 2: a holds the number 2 and the index is under b, where an
//     entry may hold its value (an inline attribute, inline.go).
//
// A record is written in format 1 whenever none of its entries is inline,
// so a session without inline attributes stays readable by format-1 code.
// Format 2 puts a number where format-1 code expects a map on purpose:
// that code fails to decode the record, and treats the session as
// undecodable, instead of decoding it without the inline values and
// saving it back without them. A format this code does not know (a later
// release's) fails to decode here the same way.

// metaFormat is the newest format this code reads and writes.
const metaFormat = 2

// metaFields are metaRecord's fields without its methods, for metaWire.
type metaFields metaRecord

// metaWire is the stored form of a meta record, in either format.
type metaWire struct {
	metaFields
	Index  cbor.RawMessage     `cbor:"a,omitempty"` // format 1: the index; format 2: the number 2
	Index2 map[string]attrInfo `cbor:"b,omitempty"` // format 2: the index
}

// MarshalCBOR writes m in format 1 if none of its attributes is inline,
// else in format 2.
func (m metaRecord) MarshalCBOR() ([]byte, error) {
	w := metaWire{metaFields: metaFields(m)}
	switch {
	case hasInline(m.Attrs):
		w.Index, w.Index2 = cbor.RawMessage{metaFormat}, m.Attrs // 0x02: the unsigned integer 2
	case len(m.Attrs) > 0:
		b, err := encMode.Marshal(m.Attrs)
		if err != nil {
			return nil, err
		}
		w.Index = b
	}
	return encMode.Marshal(w)
}

// UnmarshalCBOR reads a meta record of either format.
func (m *metaRecord) UnmarshalCBOR(b []byte) error {
	var w metaWire
	if err := decMode.Unmarshal(b, &w); err != nil {
		return err
	}
	attrs, err := w.index()
	if err != nil {
		return err
	}
	*m = metaRecord(w.metaFields)
	m.Attrs = attrs
	return nil
}

// index returns the attribute index of w, whichever its format.
func (w metaWire) index() (map[string]attrInfo, error) {
	if len(w.Index) == 0 {
		return w.Index2, nil
	}
	switch w.Index[0] >> 5 { // the CBOR major type
	case 5: // a map: format 1
		var idx map[string]attrInfo
		err := decMode.Unmarshal(w.Index, &idx)
		return idx, err
	case 0: // an unsigned integer: the format
		var f uint64
		if err := decMode.Unmarshal(w.Index, &f); err != nil {
			return nil, err
		}
		if f != metaFormat {
			return nil, fmt.Errorf("meta record in format %d, this release reads 1 and %d", f, metaFormat)
		}
		return w.Index2, nil
	}
	return nil, errors.New("meta record: field a is neither an index nor a format")
}

func hasInline(attrs map[string]attrInfo) bool {
	for _, a := range attrs {
		if a.inline() {
			return true
		}
	}
	return false
}
