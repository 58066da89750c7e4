// Package cartapp is kiln's sample web application: a shopping cart, a
// click counter and a login (with a list of the user's sessions and "log
// out everywhere"), kept in a clustered session so that any instance of
// the app serves any user.
//
// # Usage
//
// The app is an http.Handler that expects kiln's middleware around it;
// [Wrap] puts it there and labels every response with the node that
// served it (header X-Kiln-Node), errors from kiln included:
//
//	cfg := kiln.DefaultConfig()
//	cfg.Node = "n1"
//	cfg.ErrorHandler = cartapp.ErrorHandler
//	m, err := kiln.New(eng, cfg)
//	...
//	http.ListenAndServe(addr, cartapp.Wrap(m, "n1"))
//
// # Endpoints
//
//	GET  /                the page: cart, counter, login, "served by node n2"
//	GET  /metrics         the Manager's Prometheus metrics (Wrap only; docs/metrics.md)
//	GET  /api/cart        {"node","session","user","items","counter"}
//	POST /api/cart/add    form item (1..64 printable characters), qty (1..1000, default 1)
//	POST /api/cart/clear
//	POST /api/counter     {"node","counter"}
//	POST /api/login       form user (1..64 printable characters); renews the session ID
//	POST /api/logout      {"node","loggedOut":true}; invalidates the session
//	GET  /api/sessions    {"node","user","sessions":[{"session","created","lastAccess","node","userAgent","current"}]}:
//	                      the logged-in user's sessions on every node (401 if not logged in)
//	POST /api/logout-everywhere  {"node","loggedOut":N}: ends every session of the
//	                      logged-in user, this one included (401 if not logged in)
//
// The last two need the Manager (kiln's Manager.Sessions and
// Manager.InvalidatePrincipal), which [Wrap] gives the app; under [New]
// alone they answer 501.
//
// The session ID travels as kiln's Config says: the cookie by default;
// with cfg.IDTransport = kiln.IDInHeader (the cart's -id-header flag) API
// clients send and receive it in a header such as X-Session-Token
// (docs/http.md), and the page, which relies on the cookie, keeps no
// session.
//
// API clients get JSON. Browser forms (Accept: text/html, or a form field
// redirect=1) get 303 See Other to the page instead.
//
// # Session attributes
//
// "cart" holds a map[string]int that handlers change in place, without
// putting it back: kiln's change detection saves it. "counter" holds an int.
package cartapp
