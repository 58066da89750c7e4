package cartapp

import (
	"net/http"

	"github.com/kilnhq/kiln"
)

// getCart answers GET /api/cart.
func (a *app) getCart(w http.ResponseWriter, r *http.Request, s *kiln.Session) {
	v, err := a.viewCart(s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeCart(w, s, v)
}

// addToCart answers POST /api/cart/add.
func (a *app) addToCart(w http.ResponseWriter, r *http.Request, s *kiln.Session) {
	item, qty, err := addForm(r)
	if err == nil {
		err = addItem(s, item, qty)
	}
	a.replyCart(w, r, s, err)
}

// clearCart answers POST /api/cart/clear.
func (a *app) clearCart(w http.ResponseWriter, r *http.Request, s *kiln.Session) {
	a.replyCart(w, r, s, s.Delete(attrCart))
}

// incCounter answers POST /api/counter.
func (a *app) incCounter(w http.ResponseWriter, r *http.Request, s *kiln.Session) {
	n, err := increment(s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.send(w, r, counterView{Node: a.node, Counter: n})
}

// login answers POST /api/login: it binds the session to the user and
// gives it a new ID (against session fixation).
func (a *app) login(w http.ResponseWriter, r *http.Request, s *kiln.Session) {
	user, err := nameField(r, "user")
	if err == nil {
		err = s.SetPrincipal(user)
	}
	if err == nil {
		err = s.RenewID()
	}
	a.replyCart(w, r, s, err)
}

// logout answers POST /api/logout: the session ends on every node.
func (a *app) logout(w http.ResponseWriter, r *http.Request, s *kiln.Session) {
	s.Invalidate()
	a.send(w, r, logoutView{Node: a.node, LoggedOut: true})
}

// replyCart answers a cart change: the error, or the cart after it.
func (a *app) replyCart(w http.ResponseWriter, r *http.Request, s *kiln.Session, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.viewCart(s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.sendCart(w, r, s, v)
}
