package testutil

import (
	"net"
	"testing"
)

// FreePorts returns n distinct loopback ports that were free a moment ago,
// for servers that must know each other's ports before they start (routes)
// or restart on the same port.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}
