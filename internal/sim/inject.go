package sim

import (
	"sort"
	"time"
)

// injectFault arms or starts one fault of an enabled kind on a random node.
func (w *world) injectFault() {
	var kinds []Kind
	for k := range w.cfg.Faults {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	kind := kinds[w.rng.IntN(len(kinds))]
	s := w.slots[w.rng.IntN(len(w.slots))]
	n := s.current()
	if n.isDead() {
		return
	}
	name := n.slot.name
	switch kind {
	case AckLost, FailBefore, Delay:
		a := armed{kind: kind, class: callClasses[w.rng.IntN(len(callClasses))]}
		a.get = kind != AckLost && w.rng.Float64() < 0.3
		a.late = kind == Delay && !a.get && w.rng.Float64() < 0.5
		n.arm(a)
		w.fault("%s: arm %s", name, a)
	case LoseRequest, LoseReply, DelayRequest:
		n.arm(armed{kind: kind})
		w.fault("%s: arm %s", name, kind)
	case Pause:
		if n.isPaused() {
			return
		}
		d := 200*time.Millisecond + w.dur(4800*time.Millisecond)
		n.pause()
		w.fault("%s: pause for %v", name, d)
		w.at(d, func() { n.resume(); w.logf("%s#%d resumes", name, n.inc) })
	case Lapse:
		d := livenessTTL + time.Second + w.dur(3*time.Second)
		n.lapse(time.Now().Add(d))
		w.fault("%s: liveness writes fail for %v", name, d)
	case Kill:
		n.kill()
		d := 100*time.Millisecond + w.dur(3900*time.Millisecond)
		w.fault("%s#%d: killed; restarts in %v", name, n.inc, d)
		w.at(d, func() { w.startNode(s) })
	case Offset:
		d := w.randomOffset()
		s.clk.set(d)
		w.fault("%s: clock offset %v from its next start", name, d)
	case ListenerErr:
		w.mu.Lock()
		w.lErr[name]++
		w.mu.Unlock()
		w.fault("%s: next OnDestroyed fails", name)
	}
}

// randomOffset returns a host clock offset in (-maxOffset, maxOffset).
func (w *world) randomOffset() time.Duration {
	return time.Duration((w.rng.Float64()*2 - 1) * float64(maxOffset))
}
