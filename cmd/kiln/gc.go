package main

import "runtime/debug"

// serverGCPercent is the garbage collector's target (GOGC) `kiln server`
// runs with unless GOGC is set in its environment. The server's heap is
// mostly JetStream's per-subject indexes, several entries per live
// session, and lives as long as the sessions do; with Go's default of 100
// the heap grows to twice that before a collection, and the process's
// resident memory with it. 50 lets it grow by half: less memory per
// session for more collection work (docs/scaling.md, "Memory on the
// server").
const serverGCPercent = 50

// setServerGC sets serverGCPercent unless the operator chose GOGC
// (lookupEnv is os.LookupEnv outside tests), and returns the percent in
// effect.
func setServerGC(lookupEnv func(string) (string, bool)) int {
	if v, ok := lookupEnv("GOGC"); ok && v != "" {
		old := debug.SetGCPercent(100)
		debug.SetGCPercent(old)
		return old
	}
	debug.SetGCPercent(serverGCPercent)
	return serverGCPercent
}
