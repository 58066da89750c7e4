package server

import (
	"strings"
	"testing"

	"github.com/kilnhq/kiln/engine"
)

// TestRun_ShardsChanged: a restart with another sessions.shards keeps
// the bucket's count (keys cannot move), says so in a warning and becomes
// ready; the sessions written before are still there.
func TestRun_ShardsChanged(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.Listen = ""
	cfg.Sessions.Shards = 2
	s := mustRun(t, cfg)
	eng := mustOpen(t, s.url, testToken)
	if _, err := eng.Commit(t.Context(), engine.Op{Key: "s.x.m", Value: []byte("kept"), IfNew: true}); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	cfg.Sessions.Shards = 3
	s = mustRun(t, cfg)
	if !strings.Contains(s.log.String(), "sessions.shards differs from the existing bucket's") {
		t.Errorf("no warning about the shard count in the log:\n%s", s.log)
	}
	eng = mustOpen(t, s.url, testToken)
	if eng.Shards() != 2 {
		t.Errorf("bucket has %d shards after the restart, want the recorded 2", eng.Shards())
	}
	if ent, err := eng.Get(t.Context(), "s.x.m"); err != nil || string(ent.Value) != "kept" {
		t.Errorf("after a restart with other shards Get = %q, %v; want kept", ent.Value, err)
	}
}
