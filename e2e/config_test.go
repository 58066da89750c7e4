package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/testutil"
)

// TestBadConfig: kiln server refuses to start on a bad config file, with
// exit status 2 and a message naming the file, the line and the field.
func TestBadConfig(t *testing.T) {
	needBinaries(t)
	tests := []struct {
		name string
		yaml string // %[1]d: a free port, %[2]s: a data directory
		want []string
	}{
		{"UnknownField",
			"server:\n  listen: 127.0.0.1:%[1]d\n  data: %[2]s\n  bogus: 1\n",
			[]string{"line 4", "server.bogus", "unknown field"}},
		{"BadType",
			"server:\n  listen: 127.0.0.1:%[1]d\n  data: %[2]s\nsessions:\n  replicas: three\n",
			[]string{"line 5", "sessions.replicas"}},
		{"MissingCertFile",
			"server:\n  listen: 127.0.0.1:%[1]d\n  data: %[2]s\ntls:\n  cert: %[2]s/no-such-cert.pem\n  key: %[2]s/no-such-key.pem\n",
			[]string{"line 5", "tls.cert", "no-such-cert.pem"}},
		{"NonLoopbackWithoutAuth",
			"server:\n  listen: 0.0.0.0:%[1]d\n  data: %[2]s\n",
			[]string{"line 2", "server.listen", "auth"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "bad.yaml")
			body := fmt.Sprintf(tt.yaml, testutil.FreePorts(t, 1)[0], filepath.Join(dir, "data")) + "http:\n  listen: 127.0.0.1:0\n"
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			p := start(t, "kiln", bins.kiln, nil, "server", "-c", cfg)
			if code := p.wait(t, 10*time.Second); code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			msg := p.stderrText()
			for _, want := range append([]string{"bad.yaml"}, tt.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr does not name %q:\n%s", want, msg)
				}
			}
			if strings.Contains(p.stdout.String(), readyPrefix) {
				t.Errorf("it said it was ready:\n%s", p.stdout)
			}
		})
	}
}
