package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// never is the return time of an operation whose outcome is unknown: it may
// take effect at any point after its call, or not at all (porcupine then
// linearizes it after everything else).
const never = math.MaxInt64 / 2

// pkind is an operation as one logical session's model sees it.
type pkind string

const (
	pRead      pkind = "read"
	pIncr      pkind = "incr"
	pLogin     pkind = "login"
	pLogout    pkind = "logout"
	pOwnEnd    pkind = "logout-all(own)"
	pEndPrinc  pkind = "logout-all(other)" // another session of the principal logged out everywhere
	pGone      pkind = "saw-it-ended"      // the client's cookie no longer reaches this session
	pExpire    pkind = "expire"            // away past the idle timeout: must have ended
	pMayExpire pkind = "may-expire"        // no acknowledged use for an idle timeout: may end
	pFinal     pkind = "destroyed"         // its OnDestroyed event, with its final counter
)

// pin is one operation of a partition: input and output in one.
type pin struct {
	kind  pkind
	known bool
	n     int
	user  string // login, logout-all: the principal
	princ string // read: the principal the handler saw
	id    string // base of the session ID the request sent
	newID string // base of the session ID the response set
	// create: the request created the session (its first operation).
	create bool
	op     string // the client operation, for the visualization
}

// pstate is a logical session: its counter, principal, the ID that names
// it now, and whether it ended.
type pstate struct {
	c     int
	princ string
	id    string
	ended bool
}

func step(st pstate, in pin) (bool, pstate) {
	if !in.known {
		return true, stepUnknown(st, in)
	}
	switch in.kind {
	case pRead, pIncr, pLogin, pLogout, pOwnEnd:
		if in.create {
			st.id = in.newID
		} else if st.id != in.id {
			return false, st // served through an ID that no longer names it
		}
		if in.kind == pLogin && in.newID != "" {
			st.id = in.newID
		}
	}
	switch in.kind {
	case pRead:
		return !st.ended && in.n == st.c && in.princ == st.princ, st
	case pIncr:
		ok := !st.ended && in.n == st.c+1
		st.c++
		return ok, st
	case pLogin:
		ok := !st.ended && in.n == st.c
		st.princ = in.user
		return ok, st
	case pLogout:
		ok := !st.ended
		st.ended = true
		return ok, st
	case pOwnEnd:
		ok := !st.ended && st.princ == in.user
		st.ended = true
		return ok, st
	case pEndPrinc:
		if st.princ == in.user {
			st.ended = true
		}
		return true, st
	case pGone:
		return st.ended || st.id != in.id, st
	case pExpire:
		st.ended = true
		return true, st
	case pFinal:
		return st.ended && in.n == st.c, st
	}
	return false, st
}

// stepUnknown applies an operation that may or may not have happened as if
// it did (porcupine places it last when it did not).
func stepUnknown(st pstate, in pin) pstate {
	if st.ended {
		return st
	}
	switch in.kind {
	case pIncr:
		st.c++
	case pLogin: // renewed under an ID the client never got: unreachable
		st.princ, st.ended = in.user, true
	case pLogout, pMayExpire:
		st.ended = true
	case pOwnEnd, pEndPrinc:
		if st.princ == in.user {
			st.ended = true
		}
	}
	return st
}

var sessionModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation { return [][]porcupine.Operation{h} },
	Init:      func() any { return pstate{} },
	Step: func(state, input, _ any) (bool, any) {
		return step(state.(pstate), input.(pin))
	},
	Hash: func(state any) uint64 {
		st := state.(pstate)
		h := fnv.New64a()
		fmt.Fprintf(h, "%d|%s|%s|%v", st.c, st.princ, st.id, st.ended)
		return h.Sum64()
	},
	DescribeOperation: func(input, _ any) string {
		in := input.(pin)
		if !in.known {
			return fmt.Sprintf("%s [%s] %s ?", in.op, in.kind, in.user)
		}
		return fmt.Sprintf("%s [%s] %s id=%.6s→%.6s → n=%d %s", in.op, in.kind, in.user, in.id, in.newID, in.n, in.princ)
	},
	DescribeState: func(state any) string {
		st := state.(pstate)
		if st.ended {
			return fmt.Sprintf("ended (n=%d)", st.c)
		}
		return fmt.Sprintf("n=%d p=%q id=%.6s", st.c, st.princ, st.id)
	},
}

// partition is one logical session's operations.
type partition struct {
	lsid    string
	browser int
	ops     []porcupine.Operation
}

// partitions splits the history by logical session (a renewal continues
// one; a session the client sees ended gets a "saw it ended" operation).
func partitions(res *Result, h *historyIndex) (map[string]*partition, []string) {
	parts := map[string]*partition{}
	var foreign []string
	get := func(lsid string, browser int) *partition {
		p := parts[lsid]
		if p == nil {
			p = &partition{lsid: lsid, browser: browser}
			parts[lsid] = p
		}
		return p
	}
	add := func(lsid string, browser int, o Op, in pin, ret int64) {
		in.op = fmt.Sprintf("b%d %s@%s", o.Browser, o.Kind, o.Node)
		get(lsid, browser).ops = append(get(lsid, browser).ops, porcupine.Operation{
			ClientId: o.Browser, Input: in, Call: o.Call, Return: ret, Metadata: o.String()})
	}
	for _, o := range res.Ops {
		ret := o.Return
		if !o.Known {
			ret = never
		}
		switch {
		case o.Kind == opExpire:
			add(o.Part, o.Browser, o, pin{kind: pExpire, known: true}, ret)
		case !o.Known:
			// A read that failed changes nothing; neither does a request
			// that failed before its handler ran.
			if o.Part != "" && o.Kind != opRead && !o.NotApplied {
				add(o.Part, o.Browser, o, pin{kind: kindOf(o), user: o.User}, ret)
			}
		case o.Saw == o.Part && o.Part != "":
			add(o.Part, o.Browser, o, knownIn(o), ret)
		default:
			if o.Part != "" {
				add(o.Part, o.Browser, o, pin{kind: pGone, known: true, id: idBase(o.ID)}, ret)
			}
			switch o.Saw {
			case "":
			case o.Propose:
				in := knownIn(o)
				in.create = true
				add(o.Saw, o.Browser, o, in, ret)
			default:
				foreign = append(foreign, fmt.Sprintf("client got another session's data: %s", o))
			}
		}
	}
	addCrossSession(res, parts)
	addMayExpire(parts, h)
	addFinals(res, parts)
	return parts, foreign
}

func kindOf(o Op) pkind {
	switch o.Kind {
	case opIncr:
		return pIncr
	case opLogin:
		return pLogin
	case opLogout:
		return pLogout
	case opLogoutAll:
		return pOwnEnd
	}
	return pRead
}

func knownIn(o Op) pin {
	in := pin{kind: kindOf(o), known: true, n: o.N, user: o.User, princ: o.Princ, id: idBase(o.ID), newID: idBase(o.SetID)}
	if in.kind == pOwnEnd && o.Princ == "" {
		in.kind = pRead // logging out everywhere without a principal does nothing
	}
	return in
}

// addCrossSession puts every "log out everywhere" into the partitions of
// the other sessions its principal may have.
func addCrossSession(res *Result, parts map[string]*partition) {
	for _, o := range res.Ops {
		if o.Kind != opLogoutAll || o.NotApplied || (o.Known && (o.Saw != o.Part || o.Princ == "")) {
			continue
		}
		ret := o.Return
		if !o.Known {
			ret = never
		}
		for lsid, p := range parts {
			if lsid == o.Part || p.browser%numUsers != o.Browser%numUsers {
				continue
			}
			in := pin{kind: pEndPrinc, known: o.Known, user: o.User, op: fmt.Sprintf("b%d logout-all@%s", o.Browser, o.Node)}
			p.ops = append(p.ops, porcupine.Operation{ClientId: o.Browser, Input: in, Call: o.Call, Return: ret, Metadata: o.String()})
		}
	}
}

// addMayExpire lets a session end once it had no acknowledged use for an
// idle timeout (less the clock offsets nodes may have).
func addMayExpire(parts map[string]*partition, h *historyIndex) {
	gap := idleTimeout - 2*maxOffset - time.Second
	for _, p := range parts {
		var uses []time.Duration
		for _, op := range p.ops {
			if in := op.Input.(pin); in.known && in.kind != pGone && in.kind != pEndPrinc && in.kind != pExpire {
				uses = append(uses, h.at(op.Call))
			}
		}
		sort.Slice(uses, func(i, j int) bool { return uses[i] < uses[j] })
		for i, u := range uses {
			if i+1 < len(uses) && uses[i+1]-u <= gap {
				continue
			}
			if at := u + gap; at < h.end {
				in := pin{kind: pMayExpire, op: "idle"}
				p.ops = append(p.ops, porcupine.Operation{ClientId: p.browser, Input: in, Call: h.seqAt(at), Return: never})
			}
		}
	}
}

// addFinals checks each session's first destroy event against its final
// counter.
func addFinals(res *Result, parts map[string]*partition) {
	seen := map[string]bool{}
	for _, d := range res.Events {
		if seen[d.FP] || d.Reason == "renewed" || parts[d.Lsid] == nil {
			continue
		}
		seen[d.FP] = true
		p := parts[d.Lsid]
		in := pin{kind: pFinal, known: true, n: d.N, op: "OnDestroyed " + d.Reason}
		p.ops = append(p.ops, porcupine.Operation{ClientId: p.browser, Input: in, Call: d.Seq, Return: d.Seq, Metadata: d.String()})
	}
}

// historyIndex maps positions in the order of events to simulated time.
type historyIndex struct {
	times []time.Duration
	end   time.Duration
}

func (h *historyIndex) at(seq int64) time.Duration {
	if seq < 1 || int(seq) > len(h.times) {
		return h.end
	}
	return h.times[seq-1]
}

func (h *historyIndex) seqAt(t time.Duration) int64 {
	i := sort.Search(len(h.times), func(i int) bool { return h.times[i] >= t })
	return int64(i) + 1
}
