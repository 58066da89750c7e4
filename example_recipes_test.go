package kiln_test

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/memengine"
)

// Recipes: each example runs a Manager on the in-memory engine (in
// production: natsengine, see Example_program) behind an httptest server,
// and a browser with a cookie jar.

// Log in: check the credentials, then renew the ID (so that an ID planted
// before the login is worth nothing) and bind the user. Log out:
// Invalidate.
func Example_login() {
	eng := memengine.New(memengine.Options{})
	defer eng.Close()
	sessions, err := kiln.New(eng, kiln.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer sessions.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		if err := kiln.FromContext(r.Context()).Put("cart", []string{"tea"}); err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
		}
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... check the user's password here ...
		s := kiln.FromContext(r.Context())
		if err := errors.Join(s.RenewID(), s.SetPrincipal(r.FormValue("user"))); err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		fmt.Fprintln(w, "welcome,", s.Principal())
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		cart, _, err := kiln.Get[[]string](s, "cart")
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		fmt.Fprintf(w, "user %q, cart %v\n", s.Principal(), cart)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := kiln.FromContext(r.Context()).Invalidate(); err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		fmt.Fprintln(w, "bye")
	})
	srv := httptest.NewServer(sessions.Handler(mux))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	cookie := func() string {
		u, _ := url.Parse(srv.URL)
		for _, c := range jar.Cookies(u) {
			return c.Value
		}
		return ""
	}
	send := func(method, path string, form url.Values) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := browser.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(os.Stdout, resp.Body)
	}

	send("POST", "/cart", nil) // an anonymous visitor's session
	before := cookie()
	send("POST", "/login", url.Values{"user": {"ada"}})
	fmt.Println("new ID after login:", cookie() != before)
	send("GET", "/me", nil)
	send("POST", "/logout", nil)
	send("GET", "/me", nil)
	// Output:
	// welcome, ada
	// new ID after login: true
	// user "ada", cart [tea]
	// bye
	// user "", cart []
}

// A flash message is put before a redirect and popped, once, by the page
// it redirects to.
func Example_flash() {
	eng := memengine.New(memengine.Options{})
	defer eng.Close()
	sessions, err := kiln.New(eng, kiln.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer sessions.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /save", func(w http.ResponseWriter, r *http.Request) {
		// ... save the form ...
		if err := kiln.FromContext(r.Context()).Put("flash", "Saved."); err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		flash, ok, err := kiln.Pop[string](kiln.FromContext(r.Context()), "flash")
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		if ok {
			fmt.Fprintln(w, "flash:", flash)
		}
		fmt.Fprintln(w, "the page")
	})
	srv := httptest.NewServer(sessions.Handler(mux))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	show := func(resp *http.Response, err error) {
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(os.Stdout, resp.Body)
	}
	show(browser.PostForm(srv.URL+"/save", nil)) // follows the redirect
	show(browser.Get(srv.URL + "/"))             // reloaded: the flash is gone
	// Output:
	// flash: Saved.
	// the page
	// the page
}

// A CSRF token lives in the session: made the first time a form needs it,
// before the response starts (the session is saved then; a Put after that
// returns ErrResponseStarted), and compared in constant time on every
// state-changing request.
func Example_csrf() {
	eng := memengine.New(memengine.Options{})
	defer eng.Close()
	sessions, err := kiln.New(eng, kiln.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer sessions.Close()

	csrfToken := func(s *kiln.Session) (string, error) {
		token, ok, err := kiln.Get[string](s, "csrf")
		if err != nil || ok {
			return token, err
		}
		token = rand.Text() // 128 bits from crypto/rand
		return token, s.Put("csrf", token)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		token, err := csrfToken(kiln.FromContext(r.Context())) // before writing anything
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		fmt.Fprintf(w, "<form method=post action=/transfer><input name=csrf value=%s></form>", token)
	})
	mux.HandleFunc("POST /transfer", func(w http.ResponseWriter, r *http.Request) {
		want, _, err := kiln.Get[string](kiln.FromContext(r.Context()), "csrf")
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		if want == "" || subtle.ConstantTimeCompare([]byte(r.FormValue("csrf")), []byte(want)) != 1 {
			http.Error(w, "bad CSRF token", http.StatusForbidden)
			return
		}
		fmt.Fprintln(w, "transferred")
	})
	srv := httptest.NewServer(sessions.Handler(mux))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(srv.URL + "/form")
	if err != nil {
		log.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := strings.TrimSuffix(strings.SplitN(string(page), "value=", 2)[1], "></form>")
	for _, sent := range []string{token, "forged"} {
		resp, err := browser.PostForm(srv.URL+"/transfer", url.Values{"csrf": {sent}})
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s", resp.StatusCode, body)
	}
	// Output:
	// 200 transferred
	// 403 bad CSRF token
}

// "Remember me" at login gives that session alone a persistent cookie and
// the longer Config.RememberIdleTimeout and RememberLifetime; everyone
// else keeps a cookie that ends with the browser session.
func Example_rememberMe() {
	eng := memengine.New(memengine.Options{})
	defer eng.Close()
	sessions, err := kiln.New(eng, kiln.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer sessions.Close()

	login := sessions.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ... check the user's password here ...
		s := kiln.FromContext(r.Context())
		err := errors.Join(s.RenewID(), s.SetPrincipal(r.FormValue("user")),
			s.SetRememberMe(r.FormValue("remember") == "on"))
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		fmt.Fprintf(w, "idle timeout %v\n", s.MaxInactive())
	}))
	srv := httptest.NewServer(login)
	defer srv.Close()

	for _, remember := range []string{"on", ""} {
		resp, err := http.PostForm(srv.URL, url.Values{"user": {"ada"}, "remember": {remember}})
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(os.Stdout, resp.Body)
		resp.Body.Close()
		if c := resp.Cookies()[0]; c.MaxAge > 0 {
			fmt.Println("persistent cookie for", (time.Duration(c.MaxAge) * time.Second).Round(time.Hour))
		} else {
			fmt.Println("browser-session cookie")
		}
	}
	// Output:
	// idle timeout 168h0m0s
	// persistent cookie for 720h0m0s
	// idle timeout 30m0s
	// browser-session cookie
}

// Prefs are one user's settings, kept in the session as one value.
type Prefs struct {
	Theme   string
	Starred []string
}

// A value got by pointer (or a map or slice) can be edited in place: kiln
// re-encodes what the request read and saves it if its bytes changed, so
// no Put is needed after the first.
func Example_preferences() {
	eng := memengine.New(memengine.Options{})
	defer eng.Close()
	sessions, err := kiln.New(eng, kiln.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer sessions.Close()

	prefs := func(s *kiln.Session) (*Prefs, error) {
		p, ok, err := kiln.Get[*Prefs](s, "prefs")
		if err != nil || ok {
			return p, err
		}
		p = &Prefs{Theme: "light"}
		return p, s.Put("prefs", p)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /star", func(w http.ResponseWriter, r *http.Request) {
		p, err := prefs(kiln.FromContext(r.Context()))
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		p.Starred = append(p.Starred, r.FormValue("item")) // in place: saved without Put
	})
	mux.HandleFunc("POST /theme", func(w http.ResponseWriter, r *http.Request) {
		p, err := prefs(kiln.FromContext(r.Context()))
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		p.Theme = r.FormValue("theme")
	})
	mux.HandleFunc("GET /prefs", func(w http.ResponseWriter, r *http.Request) {
		p, err := prefs(kiln.FromContext(r.Context()))
		if err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		fmt.Fprintf(w, "%+v\n", *p)
	})
	srv := httptest.NewServer(sessions.Handler(mux))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	post := func(path string, form url.Values) {
		resp, err := browser.PostForm(srv.URL+path, form)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
	}
	post("/star", url.Values{"item": {"tea"}})
	post("/star", url.Values{"item": {"scones"}})
	post("/theme", url.Values{"theme": {"dark"}})
	resp, err := browser.Get(srv.URL + "/prefs")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(os.Stdout, resp.Body)
	// Output:
	// {Theme:dark Starred:[tea scones]}
}
