package engine

import (
	"errors"
	"testing"
)

func TestCheckKey(t *testing.T) {
	for _, k := range []string{"a", "s.abc_-=.m", "A1.b2"} {
		if err := CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range []string{"", ".", "a.", ".a", "a..b", "a b", "a/b", "a.*", "a.>"} {
		if err := CheckKey(k); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckKey(%q) = %v, want ErrInvalid", k, err)
		}
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, key string
		want         bool
	}{
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{"*.t", "x.t", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
	}
	for _, c := range cases {
		if err := CheckPattern(c.pattern); err != nil {
			t.Fatalf("CheckPattern(%q) = %v", c.pattern, err)
		}
		if got := Match(c.pattern, c.key); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.key, got, c.want)
		}
	}
	if err := CheckPattern("a.>.b"); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckPattern(a.>.b) = %v, want ErrInvalid", err)
	}
}
