// Package chiapp is kiln under chi. chi speaks net/http, so kiln's
// middleware installs as it is, and handlers read the session from
// r.Context():
//
//	r.Use(m.Handler)
//
// Pitfall: install it with r.Use (or r.With / r.Group), before the routes;
// chi middlewares that replace the response writer (middleware.Compress,
// WrapResponseWriter) must go outside kiln's, i.e. be Use'd first, so that
// kiln's writer is the one the handler writes through.
package chiapp

import (
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/examples/frameworks/counter"
)

// New returns the app: POST /login?user=NAME, POST /increment, GET /count.
func New(m *kiln.Manager) http.Handler {
	r := chi.NewRouter()
	r.Use(m.Handler) // the one line
	r.Post("/login", login)
	r.Post("/increment", increment)
	r.Get("/count", count)
	return r
}

func login(w http.ResponseWriter, r *http.Request) {
	s := kiln.FromContext(r.Context())
	if err := counter.Login(s, r.URL.Query().Get("user")); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	v, err := counter.Read(s)
	reply(w, v, err)
}

func increment(w http.ResponseWriter, r *http.Request) {
	v, err := counter.Increment(kiln.FromContext(r.Context()))
	reply(w, v, err)
}

func count(w http.ResponseWriter, r *http.Request) {
	v, err := counter.Read(kiln.FromContext(r.Context()))
	reply(w, v, err)
}

// reply writes v as JSON, or err's status (kiln.StatusFor).
func reply(w http.ResponseWriter, v counter.View, err error) {
	if err != nil {
		http.Error(w, err.Error(), kiln.StatusFor(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
