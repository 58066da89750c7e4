package sim

import (
	"fmt"
	"sort"
	"strings"
)

// Kind is one kind of fault the schedule can inject.
type Kind string

// The fault kinds. Each can be switched off with -sim.faults.
const (
	AckLost      Kind = "acklost"      // a write is applied, but the caller gets ErrUnavailable
	FailBefore   Kind = "failbefore"   // a call fails with ErrUnavailable before it is applied
	Delay        Kind = "delay"        // a call hangs past its deadline; a write may land late
	LoseRequest  Kind = "loserequest"  // a lease request/reply message never arrives
	LoseReply    Kind = "losereply"    // the request arrives and is acted on; the reply is lost
	DelayRequest Kind = "delayrequest" // the request arrives after the asker gave up
	Pause        Kind = "pause"        // a node stalls (engine calls, callbacks, clock), others go on
	Lapse        Kind = "lapse"        // a node's liveness writes (n.<node>) fail for a while
	Kill         Kind = "kill"         // a node dies without Close and restarts under the same name
	Offset       Kind = "offset"       // a node's clock runs ahead or behind
	ListenerErr  Kind = "listenererr"  // OnDestroyed fails once, so the event is delivered again
)

// AllKinds lists every fault kind, in the order the flag documents them.
var AllKinds = []Kind{AckLost, FailBefore, Delay, LoseRequest, LoseReply, DelayRequest, Pause, Lapse, Kill, Offset, ListenerErr}

// Kinds is a set of enabled fault kinds.
type Kinds map[Kind]bool

// ParseKinds reads a comma-separated list; "all" and "none" are shorthands,
// and "-kind" removes a kind ("all,-kill").
func ParseKinds(s string) (Kinds, error) {
	k := Kinds{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ToLower(f))
		switch {
		case f == "" || f == "none":
		case f == "all":
			for _, a := range AllKinds {
				k[a] = true
			}
		case strings.HasPrefix(f, "-") && known(Kind(f[1:])):
			delete(k, Kind(f[1:]))
		case known(Kind(f)):
			k[Kind(f)] = true
		default:
			return nil, fmt.Errorf("sim: unknown fault kind %q (known: %v)", f, AllKinds)
		}
	}
	return k, nil
}

func known(k Kind) bool {
	for _, a := range AllKinds {
		if a == k {
			return true
		}
	}
	return false
}

func (k Kinds) String() string {
	var out []string
	for a := range k {
		out = append(out, string(a))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// keyClass names the records a call fault targets.
type keyClass string

const (
	classAny       keyClass = "any"
	classMeta      keyClass = "meta"      // s.<k>.m: the commit point
	classAttr      keyClass = "attr"      // s.<k>.a.<name>.<v>
	classTouch     keyClass = "touch"     // t.<k>
	classLease     keyClass = "lease"     // l.<k>
	classPrincipal keyClass = "principal" // p.<h>.<k>
)

var callClasses = []keyClass{classAny, classMeta, classMeta, classAttr, classTouch, classTouch, classLease, classLease, classPrincipal}

func classOf(key string) keyClass {
	switch {
	case strings.HasPrefix(key, "s.") && strings.HasSuffix(key, ".m"):
		return classMeta
	case strings.HasPrefix(key, "s."):
		return classAttr
	case strings.HasPrefix(key, "t."):
		return classTouch
	case strings.HasPrefix(key, "l."):
		return classLease
	case strings.HasPrefix(key, "p."):
		return classPrincipal
	}
	return classAny
}

// armed is a call fault waiting for the next matching call on its node.
type armed struct {
	kind  Kind
	class keyClass // for store faults
	get   bool     // the fault hits a Get, not a Commit
	late  bool     // Delay: the write lands once its caller gave up
}

func (a armed) String() string {
	switch a.kind {
	case LoseRequest, LoseReply, DelayRequest:
		return string(a.kind)
	}
	op := "commit"
	if a.get {
		op = "get"
	}
	s := fmt.Sprintf("%s %s %s", a.kind, op, a.class)
	if a.late {
		s += " (lands late)"
	}
	return s
}

func (a armed) matches(get bool, keys []string) bool {
	if a.get != get {
		return false
	}
	for _, k := range keys {
		if a.class == classAny && classOf(k) != classAny || classOf(k) == a.class && a.class != classAny {
			return true
		}
	}
	return false
}
