package sim

import (
	"fmt"
	"sync"
	"time"
)

// opKind is what a client did.
type opKind string

const (
	opRead      opKind = "read"
	opIncr      opKind = "incr"
	opLogin     opKind = "login"
	opLogout    opKind = "logout"
	opLogoutAll opKind = "logout-all"
	opExpire    opKind = "expire" // the client stayed away long enough for its session to expire
)

// Op is one client operation as the client saw it.
type Op struct {
	Browser int
	Kind    opKind
	User    string // login: the user; logout-all: the browser's user
	Node    string // node name and incarnation that served it
	ID      string // the session cookie sent ("" if none)
	SetID   string // the session cookie the response set ("" if none)
	Part    string // the logical session that cookie named ("" if none)
	Propose string // the lsid proposed for a session this request creates

	Call, Return     int64 // order of events (the porcupine timestamps)
	CallAt, ReturnAt time.Duration

	Status int
	Known  bool   // the outcome is known: a 200 the client received
	Saw    string // lsid the handler saw (or created)
	N      int
	Princ  string // principal the handler saw
	Torn   bool   // the handler saw n and pad disagree: half a save
	Final  bool   // a read of the final check: it must answer 200
	Err    string // why the outcome is unknown
	// NotApplied: the request failed in a way that certainly changed nothing.
	NotApplied bool
}

func (o Op) String() string {
	out := "?"
	if o.Known {
		out = fmt.Sprintf("saw=%q n=%d p=%q", o.Saw, o.N, o.Princ)
	}
	return fmt.Sprintf("b%d %s %s on %s part=%q [%v..%v] %d %s %s", o.Browser, o.Kind, o.User, o.Node, o.Part,
		o.CallAt, o.ReturnAt, o.Status, out, o.Err)
}

// Delivery is one call of Config.OnDestroyed.
type Delivery struct {
	Seq    int64
	At     time.Duration
	Node   *nodeRun
	FP     string
	Reason string
	Lsid   string
	N      int
	HasN   bool
	Torn   bool // its final n and pad disagree
}

func (d Delivery) String() string {
	return fmt.Sprintf("destroy %s on %s#%d at %v: %s lsid=%q n=%d", d.FP, d.Node.slot.name, d.Node.inc, d.At, d.Reason, d.Lsid, d.N)
}

// history collects what happened, in order.
type history struct {
	mu     sync.Mutex // guards every field
	seq    int64
	start  time.Time
	times  []time.Duration // times[seq-1]: when seq was handed out
	ops    []Op
	events []Delivery
}

// tick returns the next position in the order of events.
func (h *history) tick() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.times = append(h.times, time.Since(h.start))
	return h.seq
}

func (h *history) add(o Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, o)
}

func (h *history) addEvent(d Delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, d)
}
