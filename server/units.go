package server

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a number of bytes. In YAML it is a plain number of bytes or
// a number with a unit: B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB,
// GB, TB (powers of 1000), as in "64KiB" or "1.5 GiB".
type ByteSize int64

// Binary byte sizes.
const (
	KiB ByteSize = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
}

// ParseByteSize parses "1GiB", "64KiB", "10MB", "512" (bytes).
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	if i < 0 {
		i = len(t)
	}
	unit, ok := byteUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	n, err := strconv.ParseFloat(t[:i], 64)
	if !ok || err != nil || i == 0 {
		return 0, fmt.Errorf("size %q: want bytes, or a number with B, KiB, MiB, GiB, TiB, KB, MB, GB or TB", s)
	}
	if n*unit >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return ByteSize(n * unit), nil
}

// String formats b with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		size ByteSize
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if b != 0 && b%u.size == 0 {
			return fmt.Sprintf("%d%s", b/u.size, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(b))
}

// UnmarshalYAML parses a size scalar.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalar(n, ParseByteSize)
	if err == nil {
		*b = v
	}
	return err
}

// Duration is a time.Duration that YAML spells as "2m", "30s", "1h30m".
type Duration time.Duration

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a duration scalar.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalar(n, func(s string) (Duration, error) {
		t, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("duration %q: want a number with a unit, such as 30s, 2m or 1h", s)
		}
		return Duration(t), nil
	})
	if err == nil {
		*d = v
	}
	return err
}

// scalar parses a scalar node with parse; errors carry the node's line,
// as yaml's own type errors do, so that Load can name the field.
func scalar[T any](n *yaml.Node, parse func(string) (T, error)) (T, error) {
	var zero T
	if n.Kind != yaml.ScalarNode {
		return zero, typeError(n, errors.New("want a single value"))
	}
	v, err := parse(n.Value)
	if err != nil {
		return zero, typeError(n, err)
	}
	return v, nil
}

func typeError(n *yaml.Node, err error) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
}
