//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package kiln

import (
	"net"
	"syscall"
)

const connAliveSupported = true

// connAlive reports whether an idle connection is still open and has
// nothing unread: a non-blocking peek at its socket finds no byte and no
// end of stream.
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true // an answer either way: never wait
	})
	return err == nil && alive
}
