// Package echoapp is kiln under echo (v4). echo's own adapter for
// net/http middleware installs kiln in one line:
//
//	e.Use(echo.WrapMiddleware(m.Handler))
//
// It replaces c.Request() with the request kiln made and c.Response() with
// one writing through kiln's writer. Pitfalls: read the session from
// c.Request().Context() (Session does), never from a request saved before
// the middleware ran; an error a handler returns is written by echo's
// HTTPErrorHandler after kiln's middleware has returned, so the session
// was already saved with what the handler changed before failing: make no
// change you would not keep, or undo it before returning the error; kiln's
// own failures (503 when the engine is down, 409) are written by
// kiln.Config.ErrorHandler, not echo's.
package echoapp

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/examples/frameworks/counter"
)

// New returns the app: POST /login?user=NAME, POST /increment, GET /count.
func New(m *kiln.Manager) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(echo.WrapMiddleware(m.Handler)) // the one line
	e.POST("/login", login)
	e.POST("/increment", increment)
	e.GET("/count", count)
	return e
}

// Session returns the request's session.
func Session(c echo.Context) *kiln.Session {
	return kiln.FromContext(c.Request().Context())
}

func login(c echo.Context) error {
	s := Session(c)
	if err := counter.Login(s, c.QueryParam("user")); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	v, err := counter.Read(s)
	return reply(c, v, err)
}

func increment(c echo.Context) error {
	v, err := counter.Increment(Session(c))
	return reply(c, v, err)
}

func count(c echo.Context) error {
	v, err := counter.Read(Session(c))
	return reply(c, v, err)
}

// reply writes v as JSON, or err's status (kiln.StatusFor).
func reply(c echo.Context, v counter.View, err error) error {
	if err != nil {
		return echo.NewHTTPError(kiln.StatusFor(err), err.Error())
	}
	return c.JSON(http.StatusOK, v)
}
