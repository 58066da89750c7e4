package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// browser is one client: a cookie jar with one session cookie, used by up
// to two requests at a time (two tabs).
type browser struct {
	id        int
	user      string
	readShare float64 // how much of its traffic is reads

	mu        sync.Mutex // guards the fields below
	cookie    string
	lsidOf    map[string]string // cookie ID base -> logical session it names
	reqN      int
	inFlight  int
	idleUntil time.Time
	lastCall  time.Time
}

func idBase(id string) string { b, _, _ := strings.Cut(id, "."); return b }

// begin fills in what the request sends.
func (b *browser) begin(o *Op) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reqN++
	b.inFlight++
	b.lastCall = time.Now()
	o.ID = b.cookie
	o.Part = b.lsidOf[idBase(b.cookie)]
	o.Propose = fmt.Sprintf("b%d.%d", b.id, b.reqN)
}

// end takes a response: the cookie it sets, if the client got it.
func (b *browser) end(o *Op, cookies []*http.Cookie) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	if !o.Known {
		return
	}
	for _, c := range cookies {
		if c.Name != cookieName {
			continue
		}
		if c.MaxAge < 0 || c.Value == "" {
			b.cookie = ""
			continue
		}
		b.cookie, o.SetID = c.Value, c.Value
		if o.Saw != "" {
			b.lsidOf[idBase(c.Value)] = o.Saw
		}
	}
}

func (b *browser) busy() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inFlight
}

func pathOf(k opKind) string {
	switch k {
	case opIncr:
		return pathIncr
	case opLogin:
		return pathLogin
	case opLogout:
		return pathLogout
	case opLogoutAll:
		return pathLogoutAll
	}
	return pathRead
}

// do sends one request of kind to node n and records what the client saw.
func (w *world) do(b *browser, kind opKind, n *nodeRun, final bool) {
	o := Op{Browser: b.id, Kind: kind, Node: fmt.Sprintf("%s#%d", n.slot.name, n.inc), Final: final}
	if kind == opLogin || kind == opLogoutAll {
		o.User = b.user
	}
	b.begin(&o)
	req := httptest.NewRequest(http.MethodPost, "http://sim.test"+pathOf(kind)+"?user="+o.User, nil)
	if o.ID != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: o.ID})
	}
	req.Header.Set(headerLsid, o.Propose)
	rec := httptest.NewRecorder()
	o.Call, o.CallAt = w.hist.tick(), w.since()
	aborted := serveHTTP(n.handler, rec, req)
	o.Return, o.ReturnAt = w.hist.tick(), w.since()
	o.Status = rec.Code
	switch {
	case aborted:
		o.Err = "response aborted"
	case n.isDead():
		o.Err = "node died"
	case rec.Code != http.StatusOK:
		o.Err = strings.TrimSpace(rec.Body.String())
	default:
		var rep reply
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
			o.Err = "bad body: " + err.Error()
			break
		}
		o.Known, o.Saw, o.N, o.Princ, o.Torn = true, rep.Lsid, rep.N, rep.Principal, rep.Torn
	}
	o.NotApplied = !o.Known && notApplied(o)
	b.end(&o, rec.Result().Cookies())
	w.hist.add(o)
	w.logf("%s", o)
}

// beforeHandler are the prefixes of kiln's errors from loading a session,
// before the handler ran: such a request changed nothing.
var beforeHandler = []string{"acquire lease", "load session", "read lease", "read session",
	"record liveness", "write lease", "revoke lease", "fence session", `load "`}

// notApplied reports whether a failed request certainly changed nothing:
// it never reached a live node, failed while loading its session, or its
// save lost a compare-and-set (no other cause of a conflict).
func notApplied(o Op) bool {
	if o.Status == http.StatusBadGateway && o.Err == "node dead" {
		return true
	}
	if o.Err == "node died" || o.Err == "response aborted" {
		return false
	}
	if strings.Contains(o.Err, "too many sessions") {
		return true // the limit is checked before anything is written
	}
	for _, p := range beforeHandler {
		if strings.HasPrefix(o.Err, p) {
			return true
		}
	}
	// A logout-all ends the other sessions before its own save: a conflict
	// there says nothing about them.
	return o.Kind != opLogoutAll && strings.Contains(o.Err, "engine: revision conflict") && !strings.Contains(o.Err, "unavailable")
}

// serveHTTP runs the handler; it reports whether the response was aborted
// (http.ErrAbortHandler: the client sees a broken response).
func serveHTTP(h http.Handler, rec *httptest.ResponseRecorder, req *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(rec, req)
	return false
}
