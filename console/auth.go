package console

import (
	"net/http"
)

// loginForm serves the login form; a logged-in user goes to the cluster.
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	if c.logins.get(r) != nil {
		http.Redirect(w, r, c.opts.Prefix+"/", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login", nil)
}

// login checks a name and password, rate-limited, and starts a login.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !c.limiter.allow(r) {
		c.opts.Logger.Warn("kiln console: login attempt refused: too many attempts", "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "12")
		c.render(w, r, http.StatusTooManyRequests, "login", loginView{Error: "Too many login attempts; wait a minute."})
		return
	}
	u, ok := c.users.check(r.PostFormValue("user"), r.PostFormValue("password"))
	if !ok {
		// The name is not logged: a password typed in the wrong field would be.
		c.opts.Logger.Warn("kiln console: login failed", "remote", r.RemoteAddr)
		c.render(w, r, http.StatusUnauthorized, "login", loginView{Error: "Wrong user name or password."})
		return
	}
	c.setCookie(w, r, c.logins.start(u), 0)
	c.opts.Logger.Info("kiln console: login", "user", u.Name, "role", u.Role, "remote", r.RemoteAddr)
	http.Redirect(w, r, c.opts.Prefix+"/", http.StatusSeeOther)
}

// logout ends the login.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	c.logins.end(r)
	c.setCookie(w, r, "", -1)
	http.Redirect(w, r, c.opts.Prefix+"/login", http.StatusSeeOther)
}

// setCookie sets (maxAge 0: for the browser session) or clears (-1) the
// login cookie: HttpOnly, SameSite=Strict, Secure on TLS or with
// Options.Secure, and only for the console's paths.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: c.opts.Prefix + "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || c.opts.Secure,
	})
}

type loginView struct{ Error string }
