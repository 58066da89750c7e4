package server

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRun_UnusableDataDir: a data directory that cannot be created or
// written fails Run at once with an error naming server.data, instead of
// a NATS server that never becomes ready and a hint about the port.
func TestRun_UnusableDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "sub")} {
		cfg := testConfig(t)
		cfg.Server.Data = dir
		cfg.HTTP.Listen = ""
		start := time.Now()
		err := Run(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "server.data") || strings.Contains(err.Error(), "port") {
			t.Errorf("Run with data %s = %v; want an error naming server.data, not the port", dir, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Run took %s to fail; want at once", d)
		}
	}
}
