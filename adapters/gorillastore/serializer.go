package gorillastore

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"

	"github.com/gorilla/sessions"
)

// Serializer encodes a session's Values for the store (redistore's
// SessionSerializer).
type Serializer interface {
	Serialize(s *sessions.Session) ([]byte, error)
	Deserialize(b []byte, s *sessions.Session) error
}

// GobSerializer encodes Values with encoding/gob: any key and value type
// registered with gob.Register. The default.
type GobSerializer struct{}

// Serialize encodes s.Values.
func (GobSerializer) Serialize(s *sessions.Session) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s.Values); err != nil {
		return nil, fmt.Errorf("gorillastore: gob encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Deserialize decodes b into s.Values.
func (GobSerializer) Deserialize(b []byte, s *sessions.Session) error {
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s.Values); err != nil {
		return fmt.Errorf("gorillastore: gob decode: %w", err)
	}
	return nil
}

// JSONSerializer encodes Values as a JSON object: keys must be strings,
// and values come back as JSON's types (float64, string, map, slice).
type JSONSerializer struct{}

// Serialize encodes s.Values.
func (JSONSerializer) Serialize(s *sessions.Session) ([]byte, error) {
	m := make(map[string]any, len(s.Values))
	for k, v := range s.Values {
		ks, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("gorillastore: json encode: key %v is not a string", k)
		}
		m[ks] = v
	}
	return json.Marshal(m)
}

// Deserialize decodes b into s.Values.
func (JSONSerializer) Deserialize(b []byte, s *sessions.Session) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("gorillastore: json decode: %w", err)
	}
	for k, v := range m {
		s.Values[k] = v
	}
	return nil
}
