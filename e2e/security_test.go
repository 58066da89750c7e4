package e2e

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const e2eToken = "e2e-right-token-5f3a"

// TestWrongCredentialsRefused: a cart with a wrong token is refused and
// exits at once with a clear message; the right token works. Neither
// process logs a token.
func TestWrongCredentialsRefused(t *testing.T) {
	needBinaries(t)
	spec := newServerSpec(t, "kiln-1")
	spec.token = e2eToken
	srv := startKiln(t, spec)

	bad := launchCart(t, "bad", srv.url, "-token", "e2e-wrong-token-9c1d")
	if code := bad.wait(t, 30*time.Second); code == 0 {
		t.Errorf("cart with a wrong token exited with status 0")
	}
	if log := bad.stderrText(); !strings.Contains(log, "refused the credentials") || strings.Contains(log, "e2e-wrong-token") {
		t.Errorf("want a log saying the credentials were refused, without the token; got:\n%s", log)
	}
	if bad.url != "" || strings.Contains(bad.stdout.String(), "listening on") {
		t.Errorf("cart with a wrong token listened:\n%s", bad.stdout)
	}

	good := startCart(t, "good", srv.url, "-token", e2eToken)
	if _, _, err := addItem(newClient(t), good.url, "apple", 1); err != nil {
		t.Errorf("cart with the right token: %v", err)
	}
	good.stop(t)
	srv.stop(t)
	for _, p := range []*proc{srv.proc, good.proc, bad.proc} {
		if strings.Contains(p.stdout.String()+p.stderrText(), e2eToken) {
			t.Errorf("%s logged the token", p.name)
		}
	}
}

// TestGarbageOnClientPort: random bytes, an HTTP request and a half NATS
// CONNECT sent to the client port do not hurt the server: afterwards a
// cart still works, a new one connects, and /healthz answers 200.
func TestGarbageOnClientPort(t *testing.T) {
	needBinaries(t)
	spec := newServerSpec(t, "kiln-1")
	spec.token = e2eToken
	srv := startKiln(t, spec)
	a := startCart(t, "a", srv.url, "-token", e2eToken)
	hc := newClient(t)
	if _, _, err := addItem(hc, a.url, "apple", 1); err != nil {
		t.Fatal(err)
	}

	random := make([]byte, 64<<10)
	rand.Read(random)
	garbage := map[string][]byte{
		"random 64 KiB": random,
		"HTTP request":  []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
		"half CONNECT":  []byte(`CONNECT {"verbose":false,"pedantic":false,"auth_token":"e2e-wr`),
		"bad CONNECT":   []byte("CONNECT {\"auth_token\":\"nope\"}\r\nPING\r\nPUB $KV.kiln.x 5\r\nhello\r\n"),
		"huge PUB":      []byte("PUB x 999999999999\r\n"),
		"NUL bytes":     make([]byte, 4096),
	}
	for name, b := range garbage {
		for range 3 {
			if err := sendGarbage(srv.spec.port, b); err != nil {
				t.Logf("%s: %v", name, err) // the server may cut us off: fine
			}
		}
	}

	if srv.exited() {
		t.Fatalf("server exited after garbage: %v", srv.err)
	}
	if status, err := srv.healthz(); err != nil || status != http.StatusOK {
		t.Errorf("/healthz after garbage: %d, %v; want 200", status, err)
	}
	if _, _, err := addItem(hc, a.url, "apple", 1); err != nil {
		t.Errorf("existing cart after garbage: %v", err)
	}
	b := startCart(t, "b", srv.url, "-token", e2eToken)
	if v, _, err := getCart(hc, b.url); err != nil || v.Items["apple"] != 2 {
		t.Errorf("new cart after garbage sees %v (%v), want 2 apples", v.Items, err)
	}
	b.stop(t)
	a.stop(t)
	srv.stop(t)
}

// sendGarbage connects to the client port, reads the server's INFO, sends
// b, reads whatever comes back for a moment and hangs up.
func sendGarbage(port int, b []byte) error {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	if _, err := conn.Read(buf); err != nil {
		return fmt.Errorf("read INFO: %w", err)
	}
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	conn.Read(buf)
	return nil
}
