package cartapp

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the form fields.
const (
	maxNameLen = 64   // item and user names, in characters
	maxQty     = 1000 // one add
)

// errBadInput marks a request the client must fix (400).
var errBadInput = errors.New("bad input")

var errCartFull = fmt.Errorf("%w: the cart holds %d different items already", errBadInput, maxItems)

// addForm reads and checks the fields of POST /api/cart/add.
func addForm(r *http.Request) (item string, qty int, err error) {
	item, err = nameField(r, "item")
	if err != nil {
		return "", 0, err
	}
	qty, err = qtyField(r)
	return item, qty, err
}

// nameField returns the form field key, trimmed: 1..64 printable characters.
func nameField(r *http.Request, key string) (string, error) {
	v := strings.TrimSpace(r.FormValue(key))
	n := utf8.RuneCountInString(v)
	if n == 0 || n > maxNameLen || !printable(v) {
		return "", fmt.Errorf("%w: %s must be 1..%d printable characters", errBadInput, key, maxNameLen)
	}
	return v, nil
}

// qtyField returns the form field qty: 1..1000, default 1.
func qtyField(r *http.Request) (int, error) {
	v := strings.TrimSpace(r.FormValue("qty"))
	if v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxQty {
		return 0, fmt.Errorf("%w: qty must be a whole number in 1..%d", errBadInput, maxQty)
	}
	return n, nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}
