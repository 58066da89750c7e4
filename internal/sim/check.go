package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/kilnhq/kiln"
)

// Verdict is what Check found in a run.
type Verdict struct {
	Failures []string // broken guarantees
	Notes    []string // documented behaviour worth knowing (a second event in the listener window)
	Viz      []string // porcupine visualizations of the non-linearizable partitions
	Checked  int      // partitions checked
}

// Check checks a run: linearizability of every logical session, and the
// invariants. vizDir receives the visualization of each failing partition.
func Check(res *Result, vizDir string) Verdict {
	var v Verdict
	idx := &historyIndex{times: res.Times, end: res.SimTime}
	parts, foreign := partitions(res, idx)
	v.Failures = append(v.Failures, foreign...)
	stale := v.checkStale(res)
	v.checkLinear(res, parts, vizDir, stale, idx)
	v.checkBroken(res)
	v.checkTorn(res)
	v.checkEvents(res)
	v.checkEnds(res)
	if limited(res.Cfg.Seed) {
		v.checkLimit(res)
	}
	return v
}

// checkTorn fails every answer and destroy event that saw a save half
// applied: n and pad are written together (app.go).
func (v *Verdict) checkTorn(res *Result) {
	for _, o := range res.Ops {
		if o.Known && o.Torn {
			v.fail("torn save: n and pad disagree: %s", o)
		}
	}
	for _, d := range res.Events {
		if d.Torn {
			v.fail("torn save: the final n and pad disagree: %s", d)
		}
	}
}

func (v *Verdict) fail(format string, args ...any) {
	v.Failures = append(v.Failures, fmt.Sprintf(format, args...))
}

func (v *Verdict) checkLinear(res *Result, parts map[string]*partition, vizDir string, stale map[string]bool, idx *historyIndex) {
	names := make([]string, 0, len(parts))
	for name := range parts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := parts[name]
		v.Checked++
		result, info := porcupine.CheckOperationsVerbose(sessionModel, p.ops, 10*time.Second)
		switch result {
		case porcupine.Ok:
			continue
		case porcupine.Unknown:
			v.Notes = append(v.Notes, fmt.Sprintf("session %s: linearizability check timed out (%d ops)", name, len(p.ops)))
			continue
		}
		msg := fmt.Sprintf("session %s (browser b%d) is not linearizable (%d ops)", name, p.browser, len(p.ops))
		if servedAfterEnd(p) {
			msg += " [served after it was ended]"
		}
		if expiredInUse(p, idx) {
			msg += " [expired while in use]"
		}
		if racesRenewal(p) {
			msg += " [a log out everywhere overlapped a renewal of this session]"
		}
		if stale[name] {
			msg += " [it served a stale read]"
		}
		if flickers(p) {
			msg += " [seen ended (or destroyed), later served live through the same ID: ended on one node, live on another]"
		}
		if lacksFinal(res, name) {
			msg += " [its destroy event lacks the final attribute n: final attribute missing]"
		}
		if vizDir != "" {
			path := filepath.Join(vizDir, fmt.Sprintf("sim-seed%d-%s.html", res.Cfg.Seed, name))
			if err := porcupine.VisualizePath(sessionModel, info, path); err == nil {
				v.Viz = append(v.Viz, path)
				msg += "; visualization: " + path
			}
		}
		v.fail("%s\n%s", msg, describe(p))
	}
}

// flickers reports whether a client saw the session ended through an ID
// (or its destroy event ran) and later saw it live through the same ID.
func flickers(p *partition) bool {
	for _, g := range p.ops {
		gin := g.Input.(pin)
		if gin.kind != pGone && gin.kind != pFinal {
			continue
		}
		for _, o := range p.ops {
			in := o.Input.(pin)
			sameID := in.id == gin.id || gin.kind == pFinal
			if in.known && !in.create && sameID && o.Call > g.Return && (in.kind == pRead || in.kind == pIncr) {
				return true
			}
		}
	}
	return false
}

// servedAfterEnd reports whether a request that began after an
// acknowledged log out everywhere of its principal still saw the session.
func servedAfterEnd(p *partition) bool {
	for _, e := range p.ops {
		ein := e.Input.(pin)
		if ein.kind != pEndPrinc || !ein.known {
			continue
		}
		for _, o := range p.ops {
			in := o.Input.(pin)
			if in.known && !in.create && (in.kind == pRead || in.kind == pIncr) && in.princ == ein.user && o.Call > e.Return {
				return true
			}
		}
	}
	return false
}

// expiredInUse reports whether the session's expiry event came less than
// an idle timeout (less clock offsets) after an acknowledged use.
func expiredInUse(p *partition, idx *historyIndex) bool {
	for _, d := range p.ops {
		if in := d.Input.(pin); in.kind != pFinal || in.op != "OnDestroyed expired" {
			continue
		}
		for _, u := range p.ops {
			in := u.Input.(pin)
			use := in.known && (in.kind == pRead || in.kind == pIncr || in.kind == pLogin)
			if use && u.Call < d.Call && idx.at(d.Call)-idx.at(u.Call) < idleTimeout-2*maxOffset {
				return true
			}
		}
	}
	return false
}

// racesRenewal reports whether an acknowledged log out everywhere of
// another session overlapped an acknowledged login (RenewID) of this one.
func racesRenewal(p *partition) bool {
	for _, e := range p.ops {
		if in := e.Input.(pin); in.kind != pEndPrinc || !in.known {
			continue
		}
		for _, l := range p.ops {
			in := l.Input.(pin)
			if in.kind == pLogin && in.known && !in.create && l.Call < e.Return && e.Call < l.Return {
				return true
			}
		}
	}
	return false
}

// lacksFinal reports whether a destroy event of logical session lsid came
// without its counter although the session had one.
func lacksFinal(res *Result, lsid string) bool {
	for _, d := range res.Events {
		if d.Lsid == lsid && !d.HasN {
			for _, o := range res.Ops {
				if o.Known && o.Kind == opIncr && o.Saw == lsid {
					return true
				}
			}
		}
	}
	return false
}

// describe lists a partition's operations in call order.
func describe(p *partition) string {
	ops := append([]porcupine.Operation(nil), p.ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	var b strings.Builder
	for _, op := range ops {
		ret := "…"
		if op.Return != never {
			ret = fmt.Sprint(op.Return)
		}
		fmt.Fprintf(&b, "    [%d..%s] %s\n", op.Call, ret, sessionModel.DescribeOperation(op.Input, nil))
	}
	return b.String()
}

// checkStale: no read older than an acknowledged increment that finished
// before it began (a plain statement of what porcupine also checks).
func (v *Verdict) checkStale(res *Result) map[string]bool {
	stale := map[string]bool{}
	type acked struct {
		ret int64
		n   int
	}
	incrs := map[string][]acked{}
	for _, o := range res.Ops {
		if o.Known && o.Kind == opIncr && o.Saw != "" {
			incrs[o.Saw] = append(incrs[o.Saw], acked{o.Return, o.N})
		}
	}
	for _, o := range res.Ops {
		readLike := o.Kind == opRead || (o.Kind == opLogoutAll && o.Princ == "")
		if !o.Known || !readLike || o.Saw == "" || o.Saw != o.Part {
			continue
		}
		for _, w := range incrs[o.Saw] {
			if w.ret < o.Call && o.N < w.n {
				what := "stale read"
				if o.Final {
					what = "acknowledged change lost"
				}
				v.fail("%s: %s read n=%d after an acknowledged increment to %d", what, o, o.N, w.n)
				stale[o.Saw] = true
				break
			}
		}
	}
	return stale
}

// checkBroken: once the faults stopped and timeouts passed, every session
// answers.
func (v *Verdict) checkBroken(res *Result) {
	for _, o := range res.Ops {
		if o.Final && !o.Known {
			v.fail("session broken for good: after the faults stopped %s", o)
		}
	}
}

// checkEvents: OnDestroyed exactly once for every session ever stored.
func (v *Verdict) checkEvents(res *Result) {
	byFP := map[string][]Delivery{}
	for _, d := range res.Events {
		byFP[d.FP] = append(byFP[d.FP], d)
	}
	for fp, ds := range byFP {
		if len(ds) < 2 {
			continue
		}
		first := ds[0]
		if first.Node.finishFailedAfter(fp, first.Seq) || first.Node.killedBetween(first.Seq, ds[1].Seq) {
			v.Notes = append(v.Notes, fmt.Sprintf("OnDestroyed twice for %s, but the first node's finish write failed as unavailable or the node died (the window between listener and finish): %s; %s", fp, first, ds[1]))
			continue
		}
		v.fail("OnDestroyed called %d times for session %s: %s; then %s", len(ds), fp, first, ds[1])
	}
	fps := make([]string, 0, len(res.Stored))
	for fp := range res.Stored {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	for _, fp := range fps {
		switch state := res.Stored[fp]; {
		case len(byFP[fp]) == 0:
			v.fail("session %s (%s at the end) never got its OnDestroyed event", fp, state)
		case state != "ended":
			v.fail("session %s is %s at the end, after its event", fp, state)
		}
	}
}

// checkEnds: an acknowledged logout or renewal gives its ID's destroy event
// promptly (once the faults stopped), with the right reason and values.
func (v *Verdict) checkEnds(res *Result) {
	first := map[string]Delivery{}
	for _, d := range res.Events {
		if _, ok := first[d.FP]; !ok {
			first[d.FP] = d
		}
	}
	for _, o := range res.Ops {
		if !o.Known || o.ID == "" || o.Saw != o.Part || (o.Kind != opLogout && o.Kind != opLogin) {
			continue
		}
		fp, reason := kiln.Fingerprint(o.ID), string(kiln.ReasonInvalidated)
		if o.Kind == opLogin {
			reason = string(kiln.ReasonRenewed)
		}
		d, ok := first[fp]
		if !ok {
			continue // checkEvents reports it
		}
		due := max(o.ReturnAt, res.QuietAt) + destroyBound
		switch {
		case d.Reason != reason:
			v.fail("session %s ended by %s but its event says %q", fp, o, d.Reason)
		case d.At > due:
			v.fail("destroy event of %s came at %v, after %v (%s)", fp, d.At, due, o)
		case o.Kind == opLogin && (d.N != o.N || d.Lsid != o.Part):
			v.fail("renewed session %s: event has n=%d lsid=%q, login saw n=%d lsid=%q", fp, d.N, d.Lsid, o.N, o.Part)
		}
	}
}

// WriteTrace writes the run's trace to a file in dir and returns its path.
func WriteTrace(res *Result, dir string) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("sim-seed%d-trace.txt", res.Cfg.Seed))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, line := range res.Trace {
		fmt.Fprintln(f, line)
	}
	return path, nil
}

// checkLimit: with one session per principal, no two logical sessions of a
// user are seen bound to it at one time. A session is certainly live from
// the end of its first such observation to the start of its last (no
// session comes back once ended).
func (v *Verdict) checkLimit(res *Result) {
	type span struct{ from, to int64 }
	spans := map[string]map[string]span{} // user -> lsid -> live span
	var obs []Op
	for _, o := range res.Ops {
		if !o.Known || o.Princ == "" || o.Saw == "" || (o.Saw != o.Part && o.Saw != o.Propose) {
			continue
		}
		obs = append(obs, o)
		if spans[o.Princ] == nil {
			spans[o.Princ] = map[string]span{}
		}
		sp, ok := spans[o.Princ][o.Saw]
		if !ok {
			sp = span{from: o.Return, to: o.Call}
		}
		sp.from, sp.to = min(sp.from, o.Return), max(sp.to, o.Call)
		spans[o.Princ][o.Saw] = sp
	}
	for _, o := range obs {
		for lsid, sp := range spans[o.Princ] {
			if lsid != o.Saw && o.Call > sp.from && o.Return < sp.to {
				v.fail("per-principal limit 1 broken: %s while session %s of %s was live", o, lsid, o.Princ)
				return
			}
		}
	}
}
