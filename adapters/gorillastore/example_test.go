package gorillastore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/kilnhq/kiln/adapters/gorillastore"
	"github.com/kilnhq/kiln/engine/memengine"
)

// A gorilla/sessions app whose sessions live in a kiln engine (memengine
// here; natsengine.Open against a kiln server in production).
func Example() {
	eng := memengine.New(memengine.Options{})
	defer eng.Close()
	store := gorillastore.New(eng, []byte("0123456789abcdef0123456789abcdef"))

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "app")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		n, _ := s.Values["visits"].(int)
		s.Values["visits"] = n + 1
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "visit %d", n+1)
	}))
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
