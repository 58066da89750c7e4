package echoapp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/memengine"
	"github.com/kilnhq/kiln/examples/frameworks/echoapp"
)

// TestEcho_ReturnedErrorAfterSave documents the pitfall of package
// echoapp: echo writes a returned error after kiln's middleware returned,
// so what the handler changed before failing is saved (and the new
// session's cookie goes out with the error's response).
func TestEcho_ReturnedErrorAfterSave(t *testing.T) {
	eng := memengine.New(memengine.Options{})
	t.Cleanup(func() { eng.Close() })
	m, err := kiln.New(eng, kiln.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e := echo.New()
	e.Use(echo.WrapMiddleware(m.Handler))
	e.POST("/fail", func(c echo.Context) error {
		echoapp.Session(c).Put("a", 1)
		return echo.NewHTTPError(http.StatusBadRequest, "no")
	})
	e.GET("/a", func(c echo.Context) error {
		n, _, err := kiln.Get[int](echoapp.Session(c), "a")
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, n)
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("POST", "/fail", nil))
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusBadRequest || len(cookies) != 1 {
		t.Fatalf("status %d, cookies %v: want 400 with the session's cookie", rec.Code, cookies)
	}
	req := httptest.NewRequest("GET", "/a", nil)
	req.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Body.String() != "1\n" {
		t.Fatalf("a = %q, want 1: the change made before the error was saved", rec.Body)
	}
}
