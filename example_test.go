package kiln_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/memengine"
)

func Example() {
	eng := memengine.New(memengine.Options{}) // production: natsengine.Open
	defer eng.Close()
	m, err := kiln.New(eng, kiln.DefaultConfig())
	if err != nil {
		panic(err)
	}
	defer m.Close()

	visits := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		n, _, err := kiln.Get[int](s, "visits")
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		s.Put("visits", n+1)
		fmt.Fprintf(w, "visit %d", n+1)
	}))

	var cookie *http.Cookie
	for range 3 {
		req := httptest.NewRequest("GET", "/", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		visits.ServeHTTP(rec, req)
		if c := rec.Result().Cookies(); len(c) > 0 {
			cookie = c[0]
		}
		fmt.Println(rec.Body.String())
	}
	// Output:
	// visit 1
	// visit 2
	// visit 3
}
