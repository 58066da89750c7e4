package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCeiling_Forget: once forgotten, a session's cookie finds nothing,
// and the store is empty again.
func TestCeiling_Forget(t *testing.T) {
	h, forget := newCeiling()
	do := func(method, path string, cookies []*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	first := do("POST", "/incr", nil)
	cookies := first.Result().Cookies()
	if len(cookies) == 0 {
		t.Fatal("no session cookie")
	}
	n, err := counter(do("GET", "/read", cookies).Body.Bytes())
	if err != nil || n != 1 {
		t.Fatalf("read before forget: %d, %v; want 1", n, err)
	}
	forget()
	n, err = counter(do("GET", "/read", cookies).Body.Bytes())
	if err != nil || n != 0 {
		t.Fatalf("read after forget: %d, %v; want 0 (the session is gone)", n, err)
	}
}
