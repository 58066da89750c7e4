package ginapp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/memengine"
	"github.com/kilnhq/kiln/examples/frameworks/ginapp"
)

// TestSessions_StatusThenWrite: c.Status alone does not start the
// response (gin only records it), so the session can still change; the
// first write sends that status, with the new session's cookie.
func TestSessions_StatusThenWrite(t *testing.T) {
	eng := memengine.New(memengine.Options{})
	t.Cleanup(func() { eng.Close() })
	m, err := kiln.New(eng, kiln.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(ginapp.Sessions(m))
	var putErr error
	r.POST("/", func(c *gin.Context) {
		c.Status(http.StatusCreated)
		putErr = ginapp.Session(c).Put("a", 1)
		c.Writer.WriteString("made")
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != http.StatusCreated || putErr != nil || rec.Body.String() != "made" {
		t.Fatalf("status %d, body %q, Put after c.Status: %v; want 201, made, nil", rec.Code, rec.Body, putErr)
	}
	if len(rec.Result().Cookies()) != 1 {
		t.Fatalf("cookies %v, want the new session's", rec.Result().Cookies())
	}
}
