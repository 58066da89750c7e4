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
// compares. Times are RFC 3339 strings with nanoseconds under tag 0.
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
	dec := cbor.DecOptions{DefaultMapType: reflect.TypeOf(map[string]any(nil))}
	if decMode, err = dec.DecMode(); err != nil {
		panic(err)
	}
}

func encode(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return b, nil
}

func decode(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return nil
}
