package ginapp

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/kilnhq/kiln"
)

// Sessions is kiln's middleware as a gin middleware. Next handlers get the
// session from Session(c). It runs the rest of the chain inside kiln's
// Handler, with c.Request carrying the session and c.Writer writing through
// kiln's writer (which saves the session when the response starts). If
// kiln cannot load the session (503 when the engine is down), it has
// written the error and the chain is aborted: no handler runs without a
// session.
func Sessions(m *kiln.Manager) gin.HandlerFunc {
	return func(c *gin.Context) {
		orig, ran := c.Writer, false
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ran = true
			c.Request = r
			c.Writer = &writer{ResponseWriter: orig, kiln: w}
			c.Next()
		})).ServeHTTP(orig, c.Request)
		c.Writer = orig // for the middlewares outside (gin.Logger reads its Status)
		if !ran {
			c.Abort()
		}
	}
}

// Session returns the request's session. Use it, or
// kiln.FromContext(c.Request.Context()), not kiln.FromContext(c): a
// gin.Context looks a value up in c.Request's context only with
// engine.ContextWithFallback set.
func Session(c *gin.Context) *kiln.Session {
	return kiln.FromContext(c.Request.Context())
}

// writer is gin's ResponseWriter writing through kiln's. gin's
// WriteHeader only records the status (c.Status), so it does not start the
// response; the first write does, with the status recorded.
type writer struct {
	gin.ResponseWriter                     // gin's own: Header, Status, Size, Written, Pusher
	kiln               http.ResponseWriter // kiln's, over gin's
}

// WriteHeaderNow starts the response: kiln saves the session (or writes
// the error's response), then gin sends the header.
func (w *writer) WriteHeaderNow() {
	if !w.Written() {
		w.kiln.WriteHeader(w.Status())
	}
	w.ResponseWriter.WriteHeaderNow()
}

func (w *writer) Write(p []byte) (int, error) {
	w.WriteHeaderNow()
	return w.kiln.Write(p)
}

func (w *writer) WriteString(s string) (int, error) {
	w.WriteHeaderNow()
	return io.WriteString(w.kiln, s)
}

func (w *writer) Flush() {
	w.WriteHeaderNow()
	_ = http.NewResponseController(w.kiln).Flush()
}

// Hijack goes through kiln's writer, which saves the session first.
func (w *writer) Hijack() (c net.Conn, rw *bufio.ReadWriter, err error) {
	return http.NewResponseController(w.kiln).Hijack()
}

// Unwrap is for http.ResponseController.
func (w *writer) Unwrap() http.ResponseWriter { return w.kiln }
