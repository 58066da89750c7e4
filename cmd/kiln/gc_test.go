package main

import (
	"runtime/debug"
	"testing"
)

func TestSetServerGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	t.Run("Default", func(t *testing.T) {
		debug.SetGCPercent(100)
		if got := setServerGC(func(string) (string, bool) { return "", false }); got != serverGCPercent {
			t.Fatalf("setServerGC = %d, want %d", got, serverGCPercent)
		}
		if now := debug.SetGCPercent(100); now != serverGCPercent {
			t.Fatalf("GC percent in effect %d, want %d", now, serverGCPercent)
		}
	})
	t.Run("OperatorsGOGC", func(t *testing.T) {
		debug.SetGCPercent(80) // as the runtime would have read GOGC=80
		env := func(k string) (string, bool) { return map[string]string{"GOGC": "80"}[k], k == "GOGC" }
		if got := setServerGC(env); got != 80 {
			t.Fatalf("setServerGC = %d, want the operator's 80", got)
		}
		if now := debug.SetGCPercent(100); now != 80 {
			t.Fatalf("GC percent in effect %d, want 80", now)
		}
	})
}
