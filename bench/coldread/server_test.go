package main

import (
	"testing"
	"time"
)

func TestStatCPU(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want time.Duration
	}{
		{"1234 (coldread) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 8 0", 1750 * time.Millisecond},
		{"1234 (a) b (c) R 1 2 3 4 5 6 7 8 9 10 1 2 0 0", 30 * time.Millisecond},
		{"garbage", 0},
	} {
		if got := statCPU(tc.stat); got != tc.want {
			t.Errorf("statCPU(%q) = %s, want %s", tc.stat, got, tc.want)
		}
	}
}

func TestStoreKey(t *testing.T) {
	if k := storeKey(1); len(k) != 43 || k == storeKey(2) {
		t.Errorf("storeKey(1) = %q: want 43 characters, distinct per session", k)
	}
}
