package kiln_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/kilnhq/kiln"
)

// TestManager_FailureLog: a request that fails because the engine is down
// gets one log line with its cause, its status and its session's
// fingerprint, and never the session ID (nor its random part).
func TestManager_FailureLog(t *testing.T) {
	var buf logBuffer
	c := mustNATSCluster(t, 1, func(cfg *kiln.Config) { cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil)) })
	n, u := c.nodes[0], newUser(t)
	u.must(n, http.MethodPost, "/put", kv("k", "v1"))
	id := u.cookie(n)
	c.srv.Shutdown()
	if status, _ := u.do(n, http.MethodPost, "/put", kv("k", "v2")); status != http.StatusServiceUnavailable {
		t.Fatalf("put with the engine down: %d, want 503", status)
	}
	var lines []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "session request failed") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d failure lines, want 1:\n%s", len(lines), buf.String())
	}
	fp := kiln.Fingerprint(id)
	if l := lines[0]; !strings.Contains(l, "session="+fp) || !strings.Contains(l, "status=503") || !strings.Contains(l, "err=") {
		t.Errorf("failure line lacks fingerprint %s, status or cause: %s", fp, l)
	}
	random, _, _ := strings.Cut(id, ".")
	if strings.Contains(buf.String(), random) {
		t.Errorf("the log holds the session ID:\n%s", buf.String())
	}
	if got := n.m.Stats(); got.Failed != 1 || got.Unavailable != 1 {
		t.Errorf("Stats Failed %d Unavailable %d, want 1, 1", got.Failed, got.Unavailable)
	}
}
