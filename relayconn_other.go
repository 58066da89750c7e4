//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package kiln

import "net"

// Without a non-blocking peek, a pooled connection the holder closed could
// not be told from a live one: every hop goes through http.Transport.
const connAliveSupported = false

func connAlive(net.Conn) bool { return false }
