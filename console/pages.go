package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/cluster"
)

// listPage is how many sessions the sessions page lists at a time.
const listPage = 50

func (c *Console) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), c.opts.EngineTimeout)
}

// clusterView is the cluster page.
type clusterView struct {
	Servers      ServerView
	ServersError string
	HasServers   bool
	Nodes        []cluster.Node
	HasNodes     bool
	Live         int
	LiveAt       time.Time
	LiveError    string
}

func (c *Console) clusterPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	v := clusterView{HasServers: c.opts.Servers != nil, HasNodes: c.opts.Nodes != nil}
	if v.HasServers {
		sv, err := c.opts.Servers.Servers(ctx)
		v.Servers, v.ServersError = sv, errText(err)
		if err != nil {
			c.opts.Logger.Error("kiln console: servers not described", "err", err)
		}
	}
	if v.HasNodes {
		v.Nodes = c.opts.Nodes.Nodes()
		slices.SortFunc(v.Nodes, func(a, b cluster.Node) int { return strings.Compare(a.Name, b.Name) })
	}
	n, at, err := c.count.get(ctx)
	v.Live, v.LiveAt, v.LiveError = n, at, errText(err)
	c.render(w, r, http.StatusOK, "cluster", v)
}

// sessionsView is the sessions page: a principal's sessions, or a page
// of all of them.
type sessionsView struct {
	Principal string
	Sessions  []kiln.SessionInfo
	Next      string // the cursor of the next page; "" after the last
	Error     string
	Live      int
	LiveAt    time.Time
	LiveError string
}

func (c *Console) sessionsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	v := sessionsView{Principal: strings.TrimSpace(r.FormValue("principal"))}
	var err error
	if v.Principal != "" {
		v.Sessions, err = c.opts.Sessions.Sessions(ctx, v.Principal)
	} else {
		v.Sessions, v.Next, err = c.opts.Sessions.ListSessions(ctx, r.FormValue("after"), listPage)
	}
	status := http.StatusOK
	if err != nil {
		status, v.Error = kiln.StatusFor(err), err.Error()
		c.opts.Logger.Error("kiln console: sessions not listed", "status", status, "err", err)
	}
	n, at, err := c.count.get(ctx)
	v.Live, v.LiveAt, v.LiveError = n, at, errText(err)
	c.render(w, r, status, "sessions", v)
}

// sessionView is one session's page.
type sessionView struct {
	kiln.SessionDetail
	Attributes []attributeView
}

// attributeView is one attribute, decoded for display.
type attributeView struct {
	Name  string
	Size  int
	JSON  string // indented JSON of the decoded value
	Error string // why it could not be shown as JSON
}

func (c *Console) sessionPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	d, ok, err := c.opts.Sessions.SessionDetail(ctx, r.PathValue("key"))
	switch {
	case errors.Is(err, kiln.ErrBadKey):
		c.fail(w, r, http.StatusBadRequest, "not a session key")
		return
	case err != nil:
		c.engineFail(w, r, "session not read", err)
		return
	case !ok:
		c.render(w, r, http.StatusNotFound, "message", message{Title: "No such session",
			Text: "It has ended, or never existed.", Back: "/sessions"})
		return
	}
	v := sessionView{SessionDetail: d}
	for _, a := range d.Attributes {
		v.Attributes = append(v.Attributes, decodeAttribute(a))
	}
	c.render(w, r, http.StatusOK, "session", v)
}

// decodeAttribute decodes a stored (CBOR) value into readable JSON.
func decodeAttribute(a kiln.StoredAttribute) attributeView {
	out := attributeView{Name: a.Name, Size: a.Size}
	var v any
	if err := kiln.DecodeStored(a.Value, &v); err != nil {
		out.Error = err.Error()
		return out
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		out.Error = "not representable as JSON: " + err.Error()
		return out
	}
	out.JSON = string(b)
	return out
}

func (c *Console) chartsPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "charts", chartsOf(c.samples.samples()))
}

// engineFail answers a page or action whose engine call failed: 503 (or
// the error's status) and a log line with the cause.
func (c *Console) engineFail(w http.ResponseWriter, r *http.Request, what string, err error) {
	status := kiln.StatusFor(err)
	c.opts.Logger.Error("kiln console: "+what, "path", redactPath(r.URL.Path), "status", status, "err", err)
	c.fail(w, r, status, what+": "+err.Error())
}

// redactPath shortens a session key in a path to its fingerprint, for logs.
func redactPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if len(s) == 43 {
			parts[i] = s[:8]
		}
	}
	return strings.Join(parts, "/")
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
