package scsstore

import (
	"encoding/binary"
	"fmt"
)

// A stored value is a format byte and then:
//
//	formatData:  scs's encoded session
//	formatToken: uvarint len(token), token, scs's encoded session
const (
	formatData  byte = 0
	formatToken byte = 1
)

// encodeValue is data, with token in front unless token is "".
func encodeValue(token string, data []byte) []byte {
	if token == "" {
		return append([]byte{formatData}, data...)
	}
	v := make([]byte, 0, 1+binary.MaxVarintLen64+len(token)+len(data))
	v = append(v, formatToken)
	v = binary.AppendUvarint(v, uint64(len(token)))
	v = append(v, token...)
	return append(v, data...)
}

// decodeValue splits a stored value into its token ("" if it has none)
// and data.
func decodeValue(v []byte) (token string, data []byte, err error) {
	if len(v) == 0 {
		return "", nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	switch v[0] {
	case formatData:
		return "", v[1:], nil
	case formatToken:
		n, w := binary.Uvarint(v[1:])
		if w <= 0 || uint64(len(v)-1-w) < n {
			return "", nil, fmt.Errorf("%w: bad token length", ErrCorrupt)
		}
		rest := v[1+w:]
		return string(rest[:n]), rest[n:], nil
	}
	return "", nil, fmt.Errorf("%w: format %d", ErrCorrupt, v[0])
}
