package scsstore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/alexedwards/scs/v2"

	"github.com/kilnhq/kiln/adapters/scsstore"
	"github.com/kilnhq/kiln/engine/memengine"
)

// An scs app whose sessions live in a kiln engine (memengine here;
// natsengine.Open against a kiln server in production).
func Example() {
	eng := memengine.New(memengine.Options{})
	defer eng.Close()
	sm := scs.New()
	sm.Store = scsstore.New(eng, scsstore.Options{})

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "visits") + 1
		sm.Put(r.Context(), "visits", n)
		fmt.Fprintf(w, "visit %d", n)
	})
	srv := httptest.NewServer(sm.LoadAndSave(mux))
	defer srv.Close()

	var cookie *http.Cookie
	for range 2 {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, _ := srv.Client().Do(req)
		cookie = resp.Cookies()[0]
		var body [16]byte
		n, _ := resp.Body.Read(body[:])
		resp.Body.Close()
		fmt.Println(string(body[:n]))
	}
	// Output:
	// visit 1
	// visit 2
}
