package sim

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

func op(call, ret int64, in pin) porcupine.Operation {
	return porcupine.Operation{Input: in, Call: call, Return: ret}
}

// TestModel: the per-session model accepts what kiln may do and refuses
// what it must not.
func TestModel(t *testing.T) {
	create := pin{kind: pIncr, known: true, n: 1, create: true, newID: "a"}
	read := func(n int, id string) pin { return pin{kind: pRead, known: true, n: n, id: id} }
	cases := []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"read after increment", []porcupine.Operation{op(1, 2, create), op(3, 4, read(1, "a"))}, true},
		{"stale read", []porcupine.Operation{op(1, 2, create), op(3, 4, pin{kind: pIncr, known: true, n: 2, id: "a"}), op(5, 6, read(1, "a"))}, false},
		{"unknown increment happened", []porcupine.Operation{op(1, 2, create), op(3, never, pin{kind: pIncr, id: "a"}), op(5, 6, read(2, "a"))}, true},
		{"unknown increment did not", []porcupine.Operation{op(1, 2, create), op(3, never, pin{kind: pIncr, id: "a"}), op(5, 6, read(1, "a"))}, true},
		{"renewal retires the old ID", []porcupine.Operation{op(1, 2, create), op(3, 4, pin{kind: pLogin, known: true, n: 1, id: "a", newID: "b", user: "u"}),
			op(5, 6, pin{kind: pGone, known: true, id: "a"})}, true},
		{"served under a retired ID", []porcupine.Operation{op(1, 2, create), op(3, 4, pin{kind: pLogin, known: true, n: 1, id: "a", newID: "b", user: "u"}),
			op(5, 6, pin{kind: pRead, known: true, n: 1, id: "a", princ: "u"})}, false},
		{"seen ended while live", []porcupine.Operation{op(1, 2, create), op(3, 4, pin{kind: pGone, known: true, id: "a"})}, false},
		{"destroy event with final value", []porcupine.Operation{op(1, 2, create), op(3, 4, pin{kind: pLogout, known: true, id: "a"}), op(5, 5, pin{kind: pFinal, known: true, n: 1})}, true},
		{"destroy event with an old value", []porcupine.Operation{op(1, 2, create), op(3, 4, pin{kind: pLogout, known: true, id: "a"}), op(5, 5, pin{kind: pFinal, known: true, n: 0})}, false},
	}
	for _, c := range cases {
		if got := porcupine.CheckOperations(sessionModel, c.ops); got != c.ok {
			t.Errorf("%s: linearizable %v, want %v", c.name, got, c.ok)
		}
	}
}
