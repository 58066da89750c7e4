package cartapp

import (
	"net/http"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/metrics"
)

// NodeHeader is the response header naming the node that served a request.
const NodeHeader = "X-Kiln-Node"

// app is the cart application of one node.
type app struct {
	node string
	m    *kiln.Manager // nil without Wrap: the endpoints that need it answer 501
}

// New returns the app's handler for the node named node; its responses
// carry the X-Kiln-Node header. It must run inside a kiln Manager's
// Handler: Wrap does that. Without the Manager, GET /api/sessions and
// POST /api/logout-everywhere answer 501 Not Implemented: use Wrap.
func New(node string) http.Handler {
	return (&app{node: node}).routes()
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/{$}", a.only(http.MethodGet, a.page))
	mux.Handle("/api/cart", a.only(http.MethodGet, a.getCart))
	mux.Handle("/api/cart/add", a.only(http.MethodPost, a.addToCart))
	mux.Handle("/api/cart/clear", a.only(http.MethodPost, a.clearCart))
	mux.Handle("/api/counter", a.only(http.MethodPost, a.incCounter))
	mux.Handle("/api/login", a.only(http.MethodPost, a.login))
	mux.Handle("/api/logout", a.only(http.MethodPost, a.logout))
	mux.Handle("/api/sessions", a.only(http.MethodGet, a.listSessions))
	mux.Handle("/api/logout-everywhere", a.only(http.MethodPost, a.logoutEverywhere))
	return nodeHeader(a.node, mux)
}

// Wrap returns the app of node behind m's session middleware, with the
// X-Kiln-Node header set outside it, so that kiln's own error responses
// (409 on a concurrent update, 503 when the engine is down) carry it too.
// The app uses m for the user's session list and "log out everywhere".
// GET /metrics serves m's Prometheus metrics (package metrics), outside
// the session middleware: a scrape is no session request.
func Wrap(m *kiln.Manager, node string) http.Handler {
	a := &app{node: node, m: m}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(m))
	mux.Handle("/", nodeHeader(node, m.Handler(a.routes())))
	return mux
}

// nodeHeader sets the X-Kiln-Node header on every response of next.
func nodeHeader(node string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(NodeHeader, node)
		next.ServeHTTP(w, r)
	})
}

// sessionHandler is a handler that needs the request's session.
type sessionHandler func(w http.ResponseWriter, r *http.Request, s *kiln.Session)

// only serves h for method (GET includes HEAD) and answers 405 otherwise.
// It also answers 500 if kiln's middleware is missing.
func (a *app) only(method string, h sessionHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			a.sendError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+method)
			return
		}
		s := kiln.FromContext(r.Context())
		if s == nil {
			a.sendError(w, http.StatusInternalServerError, "no kiln session: wrap the app with kiln's Manager.Handler")
			return
		}
		h(w, r, s)
	})
}
