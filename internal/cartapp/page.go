package cartapp

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kilnhq/kiln"
)

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"clock": func(t time.Time) string { return t.Format("15:04:05") },
	"ago":   func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
}).Parse(pageHTML))

// product is a button on the page.
type product struct {
	Name, Emoji string
}

// products are the page's one-click items.
var products = []product{
	{"apple", "🍎"}, {"pear", "🍐"}, {"fig", "🟣"}, {"lemon", "🍋"}, {"cherries", "🍒"}, {"grapes", "🍇"},
}

// line is one row of the cart table.
type line struct {
	Item, Emoji string
	Qty         int
}

// pageData is what page.html shows.
type pageData struct {
	Node     string
	Hue      int // the node's colour, so a change of node catches the eye
	Session  string
	Created  time.Time
	Stored   bool
	User     string
	Lines    []line
	Total    int
	Counter  int
	Products []product
	// The user's sessions, when logged in (and the app has the Manager):
	ShowSessions bool
	Sessions     []sessionView
	SessionsErr  string
}

// page answers GET / with the HTML page.
func (a *app) page(w http.ResponseWriter, r *http.Request, s *kiln.Session) {
	v, err := a.viewCart(s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	d := a.pageData(s, v)
	if d.ShowSessions = d.User != "" && a.m != nil; d.ShowSessions {
		var err error
		if d.Sessions, err = a.sessionsOf(r.Context(), s, d.User); err != nil {
			// The cart is still worth showing.
			slog.WarnContext(r.Context(), "cartapp: list sessions", "node", a.node, "err", err)
			d.SessionsErr = clientMessage(kiln.StatusFor(err), err)
		}
	}
	if err := pageTmpl.Execute(&buf, d); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (a *app) pageData(s *kiln.Session, v cartView) pageData {
	d := pageData{
		Node: a.node, Hue: hue(a.node), Session: kiln.Fingerprint(s.ID()), Created: s.Created(),
		Stored: !s.IsNew(), User: v.User, Counter: v.Counter, Products: products,
	}
	for item, qty := range v.Items {
		d.Lines = append(d.Lines, line{Item: item, Emoji: emoji(item), Qty: qty})
		d.Total += qty
	}
	slices.SortFunc(d.Lines, func(x, y line) int { return strings.Compare(x.Item, y.Item) })
	return d
}

// emoji returns the product's picture, or a basket for free-text items.
func emoji(item string) string {
	for _, p := range products {
		if p.Name == item {
			return p.Emoji
		}
	}
	return "🧺"
}

// hue maps a node name to a colour wheel angle, well spread for n1, n2, ...
func hue(node string) int {
	sum := sha256.Sum256([]byte(node))
	return int(binary.BigEndian.Uint32(sum[:]) % 360)
}
