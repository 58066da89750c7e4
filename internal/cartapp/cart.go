package cartapp

import (
	"github.com/kilnhq/kiln"
)

// Session attribute names.
const (
	attrCart    = "cart"    // map[string]int: item -> quantity
	attrCounter = "counter" // int
)

// maxItems bounds the distinct items of a cart, well inside kiln's
// attribute size limit.
const maxItems = 100

// cartView is the JSON form of a session's cart.
type cartView struct {
	Node    string         `json:"node"`
	Session string         `json:"session"` // kiln.Fingerprint of the ID; "" before the session exists
	User    string         `json:"user"`
	Items   map[string]int `json:"items"`
	Counter int            `json:"counter"`
}

// counterView is the answer of POST /api/counter.
type counterView struct {
	Node    string `json:"node"`
	Counter int    `json:"counter"`
}

// logoutView is the answer of POST /api/logout.
type logoutView struct {
	Node      string `json:"node"`
	LoggedOut bool   `json:"loggedOut"`
}

// viewCart reads the session's cart and counter. The Session field is left
// to sendCart: the ID may change when the session is saved.
func (a *app) viewCart(s *kiln.Session) (cartView, error) {
	items, _, err := kiln.Get[map[string]int](s, attrCart)
	if err != nil {
		return cartView{}, err
	}
	counter, _, err := kiln.Get[int](s, attrCounter)
	if err != nil {
		return cartView{}, err
	}
	if items == nil {
		items = map[string]int{}
	}
	return cartView{Node: a.node, User: s.Principal(), Items: items, Counter: counter}, nil
}

// addItem adds qty of item to the session's cart. An existing cart is
// changed in place and not put back: kiln notices the change and saves it.
func addItem(s *kiln.Session, item string, qty int) error {
	cart, ok, err := kiln.Get[map[string]int](s, attrCart)
	if err != nil {
		return err
	}
	if !ok || cart == nil {
		return s.Put(attrCart, map[string]int{item: qty})
	}
	if _, there := cart[item]; !there && len(cart) >= maxItems {
		return errCartFull
	}
	cart[item] += qty
	return nil
}

// increment adds one to the session's counter and returns the new value.
func increment(s *kiln.Session) (int, error) {
	n, _, err := kiln.Get[int](s, attrCounter)
	if err != nil {
		return 0, err
	}
	n++
	return n, s.Put(attrCounter, n)
}
