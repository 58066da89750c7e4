// Package sim is kiln's deterministic simulation: several Managers on one
// memengine, each behind a fault-injecting engine wrapper and a clock view
// of its own, serve a seeded schedule of requests while the schedule
// injects faults; the history of what clients saw is then checked for
// linearizability (porcupine) and for kiln's invariants.
//
// Everything runs inside a testing/synctest bubble: the bubble's clock is
// the fake clock of the whole run (engine TTLs, kiln's injected clock,
// context deadlines, lease back-offs), and it moves only when every
// goroutine of the run is blocked, so no test waits for wall time.
//
// It is written against kiln's public API only (kiln.New, Config,
// Manager.Handler, Session, kiln.Get, Manager.InvalidatePrincipal,
// Config.OnDestroyed) and the engine interfaces, so it survives changes to
// kiln's internals. docs/simulation.md says how to run and replay it.
package sim
