package console

import (
	"context"
	"crypto/subtle"
	"net/http"
)

// routes maps the console's paths under Options.Prefix. Every page but
// the login form needs a login; every POST needs the login's CSRF token
// and, from a browser, a same-origin request (http.CrossOriginProtection:
// Sec-Fetch-Site or Origin); actions need RoleAdmin.
func (c *Console) routes() *http.ServeMux {
	p := c.opts.Prefix
	mux := http.NewServeMux()
	mux.Handle("GET "+p+"/static/", http.StripPrefix(p+"/static/", staticFiles()))
	mux.HandleFunc("GET "+p+"/login", c.loginForm)
	mux.Handle("POST "+p+"/login", sameOrigin(http.HandlerFunc(c.login)))
	mux.Handle("POST "+p+"/logout", c.post(c.logout))
	mux.Handle("GET "+p+"/{$}", c.page(c.clusterPage))
	mux.Handle("GET "+p+"/sessions", c.page(c.sessionsPage))
	mux.Handle("GET "+p+"/sessions/{key}", c.page(c.sessionPage))
	mux.Handle("GET "+p+"/charts", c.page(c.chartsPage))
	mux.Handle("POST "+p+"/sessions/{key}/invalidate", c.action(c.invalidateSession))
	mux.Handle("POST "+p+"/principal/invalidate", c.action(c.invalidatePrincipal))
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) { c.fail(w, r, http.StatusNotFound, "no such page") })
	return mux
}

// sameOrigin refuses cross-origin browser requests with 403.
func sameOrigin(h http.Handler) http.Handler { return http.NewCrossOriginProtection().Handler(h) }

type loginKey struct{}

// loginOf is the login of a request that passed page, post or action.
func loginOf(r *http.Request) *login { return r.Context().Value(loginKey{}).(*login) }

// page serves h to a logged-in user; others are sent to the login form.
func (c *Console) page(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := c.logins.get(r)
		if l == nil {
			http.Redirect(w, r, c.opts.Prefix+"/login", http.StatusSeeOther)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), loginKey{}, l)))
	})
}

// post serves h to a logged-in user whose form carries the login's CSRF
// token, from the same origin.
func (c *Console) post(h http.HandlerFunc) http.Handler {
	return sameOrigin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := c.logins.get(r)
		if l == nil {
			c.fail(w, r, http.StatusForbidden, "not logged in")
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(l.csrf)) != 1 {
			c.opts.Logger.Warn("kiln console: POST without a valid CSRF token refused", "user", l.user, "path", r.URL.Path)
			c.fail(w, r, http.StatusForbidden, "invalid or missing CSRF token: reload the page")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), loginKey{}, l)))
	}))
}

// action is post for RoleAdmin only: a viewer gets 403.
func (c *Console) action(h http.HandlerFunc) http.Handler {
	return c.post(func(w http.ResponseWriter, r *http.Request) {
		l := loginOf(r)
		if l.role != RoleAdmin {
			c.opts.Logger.Warn("kiln console: action refused to a viewer", "user", l.user, "path", r.URL.Path)
			c.fail(w, r, http.StatusForbidden, "your role ("+l.role+") may not act")
			return
		}
		h(w, r)
	})
}
