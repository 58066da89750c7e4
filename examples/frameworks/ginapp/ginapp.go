// Package ginapp is kiln under gin. gin's handlers take a *gin.Context
// whose writer is gin's own, so kiln's net/http middleware needs the small
// adapter Sessions (sessions.go), installed in one line:
//
//	r.Use(ginapp.Sessions(m))
//
// Pitfalls, handled by the adapter: handlers must see the request kiln
// made (c.Request is replaced) and write through kiln's writer (c.Writer
// is replaced), or the session is saved after the response went out and
// its cookie is lost; gin runs the next handlers even when a middleware
// does not call c.Next, so a failed load aborts the chain. Left to the
// handler: read the session with Session(c) (or
// kiln.FromContext(c.Request.Context())), not kiln.FromContext(c); and
// c.Status(code) alone does not start the response, the first write does,
// so the session can change until then.
package ginapp

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/examples/frameworks/counter"
)

// New returns the app: POST /login?user=NAME, POST /increment, GET /count.
func New(m *kiln.Manager) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(Sessions(m)) // the one line
	r.POST("/login", login)
	r.POST("/increment", increment)
	r.GET("/count", count)
	return r
}

func login(c *gin.Context) {
	s := Session(c)
	if err := counter.Login(s, c.Query("user")); err != nil {
		c.String(http.StatusBadRequest, err.Error())
		return
	}
	v, err := counter.Read(s)
	reply(c, v, err)
}

func increment(c *gin.Context) {
	v, err := counter.Increment(Session(c))
	reply(c, v, err)
}

func count(c *gin.Context) {
	v, err := counter.Read(Session(c))
	reply(c, v, err)
}

// reply writes v as JSON, or err's status (kiln.StatusFor).
func reply(c *gin.Context, v counter.View, err error) {
	if err != nil {
		c.String(kiln.StatusFor(err), err.Error())
		return
	}
	c.JSON(http.StatusOK, v)
}
