package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// TestRun_FullStoreDrains: with sessions.max_bytes 1MiB, sessions with a
// 1s TTL fill the store until writes fail with ErrUnavailable (web nodes
// answer 503); once they expire the store takes writes again, with no
// operator.
func TestRun_FullStoreDrains(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.Listen = ""
	cfg.Sessions.MaxBytes = MiB
	s := mustRun(t, cfg)
	eng := mustOpen(t, s.url, testToken)
	value := make([]byte, 4<<10)
	for n := 0; ; n++ {
		_, err := eng.Commit(t.Context(), engine.Op{Key: fmt.Sprintf("s.k%04d.m", n), Value: value, TTL: time.Second})
		if errors.Is(err, engine.ErrUnavailable) {
			break
		}
		if err != nil || n > 1000 {
			t.Fatalf("write %d: %v", n, err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := eng.Commit(ctx, engine.Op{Key: "s.after.m", Value: value, TTL: time.Minute})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the full store did not drain within 20s: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // polling the store, bounded by the deadline
	}
}
