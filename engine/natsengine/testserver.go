package natsengine

import "testing"

// StartTestServer starts an embedded server on a random port with its
// store in t.TempDir, and shuts it down when the test ends. For tests of
// any package:
//
//	srv := natsengine.StartTestServer(t)
//	eng, err := natsengine.Open(ctx, natsengine.Options{InProcess: srv})
func StartTestServer(t testing.TB) *Server {
	t.Helper()
	srv, err := StartServer(ServerOptions{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start NATS server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}
