package main

import (
	"fmt"
	"net/http"
	"strconv"
)

// padChunk is the size of one padding attribute: a session of S bytes holds
// ceil(S/padChunk) of them (kiln bounds one attribute to 64 KiB).
const padChunk = 16 << 10

// session is what the benchmark app needs from a session system for one
// request. counter returns 0 for a session that has no counter yet.
type session interface {
	counter() (int, error)
	setCounter(n int) error
	setPad(chunks [][]byte) error
	// save persists changes where the system needs an explicit call
	// (gorilla/sessions); the others save in their middleware.
	save() error
}

// opener returns the session of one request.
type opener func(w http.ResponseWriter, r *http.Request) (session, error)

// newApp is the benchmark app, the same for every system:
//
//	GET  /read          {"counter":N}
//	POST /incr          counter+1, {"counter":N}
//	POST /reset         counter=0
//	POST /pad?bytes=S   S bytes of padding in ceil(S/16 KiB) attributes
func newApp(open opener) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		withSession(w, r, open, func(s session) (int, error) { return s.counter() })
	})
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		withSession(w, r, open, func(s session) (int, error) { return incr(s) })
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		withSession(w, r, open, func(s session) (int, error) { return 0, s.setCounter(0) })
	})
	mux.HandleFunc("POST /pad", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("bytes"))
		withSession(w, r, open, func(s session) (int, error) { return 0, pad(s, n) })
	})
	return mux
}

func withSession(w http.ResponseWriter, r *http.Request, open opener, fn func(session) (int, error)) {
	s, err := open(w, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	n, err := fn(s)
	if err == nil {
		err = s.save()
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"counter":%d}`, n)
}

func incr(s session) (int, error) {
	n, err := s.counter()
	if err != nil {
		return 0, err
	}
	return n + 1, s.setCounter(n + 1)
}

func pad(s session, n int) error {
	var chunks [][]byte
	for n > 0 {
		c := min(n, padChunk)
		chunks = append(chunks, make([]byte, c))
		n -= c
	}
	if err := s.setPad(chunks); err != nil {
		return err
	}
	_, err := s.counter() // make sure the session exists for systems that create it on write
	return err
}

// padName names the i-th padding attribute.
func padName(i int) string { return "pad" + strconv.Itoa(i) }
