package kiln

import "net/http"

// cookieTemplate returns the template with kiln's defaults in its zero
// fields (Config.Cookie): Path "/", SameSite=Lax; HttpOnly always. A
// template that sets only a name is as safe as the default one.
func cookieTemplate(c http.Cookie) http.Cookie {
	if c.Path == "" {
		c.Path = "/"
	}
	if c.SameSite == 0 {
		c.SameSite = http.SameSiteLaxMode
	}
	c.HttpOnly = true
	return c
}

// cookieTemplateError returns why the template (after cookieTemplate) is
// one browsers drop or that is unsafe, naming the field, or "", "".
func cookieTemplateError(c http.Cookie) (field, why string) {
	switch {
	case c.Name == "" || !validCookieName(c.Name):
		return "Cookie.Name", "must be a valid cookie name"
	case cookiePrefixError(c) != "":
		return "Cookie.Name", cookiePrefixError(c)
	case c.SameSite == http.SameSiteNoneMode && !c.Secure:
		return "Cookie.SameSite", "None needs Cookie.Secure (browsers drop such a cookie)"
	}
	return "", ""
}
