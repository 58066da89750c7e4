// Package testutil holds the helpers that tests of several kiln packages
// share: a log destination that is safe to read while a logger writes to
// it, free loopback ports, and a cluster of embedded NATS servers.
//
// It is for tests only: no non-test code imports it (it calls t.Fatal and
// t.Cleanup), and it needs no build tags.
package testutil
