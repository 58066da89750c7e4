package kiln

import (
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Attribute values are stored as CBOR (RFC 8949): self-describing, so a
// console can show them without the application's types, and compact.
// Encoding is deterministic (map keys sorted bytewise), so re-encoding an
// unchanged value yields the same bytes; that is what change detection
// compares. Times are RFC 3339 strings with nanoseconds under tag 0. Types
// that marshal themselves are encoded so: cbor.Marshaler first, then
// encoding.BinaryMarshaler (a byte string), then encoding.TextMarshaler (a
// text string). A value that would lose fields is refused (roundtrip.go).
var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	opts := cbor.CoreDetEncOptions()
	opts.Time = cbor.TimeRFC3339Nano
	opts.TimeTag = cbor.EncTagRequired
	opts.TextMarshaler = cbor.TextMarshalerTextString
	var err error
	if encMode, err = opts.EncMode(); err != nil {
		panic(err)
	}
	dec := cbor.DecOptions{
		DefaultMapType:  reflect.TypeOf(map[string]any(nil)),
		TextUnmarshaler: cbor.TextUnmarshalerTextString,
	}
	if decMode, err = dec.DecMode(); err != nil {
		panic(err)
	}
}

// encode encodes v, refusing a value that would not come back whole
// (roundtrip.go).
func encode(v any) ([]byte, error) {
	if err := checkRoundTrip(v); err != nil {
		return nil, err
	}
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return b, nil
}

// decode decodes b into the value v points at, refusing a type that
// would lose fields (roundtrip.go).
func decode(b []byte, v any) error {
	if err := checkDecodable(reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return nil
}
