package kiln_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kilnhq/kiln"
)

// TestCookie_TemplateKeepsSecureDefaults (issue 16, item 1): replacing the
// cookie template with one that sets only a name keeps Path "/", HttpOnly
// and SameSite=Lax; HttpOnly cannot be turned off; SameSiteDefaultMode
// asked for explicitly sends no SameSite attribute.
func TestCookie_TemplateKeepsSecureDefaults(t *testing.T) {
	cases := []struct {
		name     string
		template http.Cookie
		want     string // Set-Cookie with the value cut out
	}{
		{"NameOnly", http.Cookie{Name: "myapp_session"}, "myapp_session=; Path=/; HttpOnly; SameSite=Lax"},
		{"HttpOnlyOff", http.Cookie{Name: "myapp_session", HttpOnly: false, Path: "/app"}, "myapp_session=; Path=/app; HttpOnly; SameSite=Lax"},
		{"Strict", http.Cookie{Name: "myapp_session", SameSite: http.SameSiteStrictMode}, "myapp_session=; Path=/; HttpOnly; SameSite=Strict"},
		{"NoSameSite", http.Cookie{Name: "myapp_session", SameSite: http.SameSiteDefaultMode}, "myapp_session=; Path=/; HttpOnly"},
		{"NoneSecure", http.Cookie{Name: "myapp_session", SameSite: http.SameSiteNoneMode, Secure: true}, "myapp_session=; Path=/; HttpOnly; Secure; SameSite=None"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCluster(t, 1, func(cfg *kiln.Config) { cfg.Cookie = tc.template })
			rec := httptest.NewRecorder()
			c.nodes[0].m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				kiln.FromContext(r.Context()).Put("a", 1)
			})).ServeHTTP(rec, httptest.NewRequest("GET", "http://example.test/", nil))
			got := rec.Header().Get("Set-Cookie")
			name, rest, _ := strings.Cut(got, "=")
			if _, attrs, ok := strings.Cut(rest, ";"); ok {
				got = name + "=;" + attrs
			}
			if got != tc.want {
				t.Fatalf("template %+v:\nSet-Cookie %q\nwant       %q", tc.template, rec.Header().Get("Set-Cookie"), tc.want)
			}
		})
	}
}

// TestConfig_ValidateCookie (issue 16, item 1): Validate refuses a template
// browsers would drop or that is unsafe, naming the field.
func TestConfig_ValidateCookie(t *testing.T) {
	bad := map[string]http.Cookie{
		"Cookie.SameSite": {Name: "s", SameSite: http.SameSiteNoneMode},
		"Cookie.Name":     {Name: "__Host-s", Secure: true, Path: "/app"},
	}
	for field, tmpl := range bad {
		cfg := kiln.DefaultConfig()
		cfg.Cookie = tmpl
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), field+" ") {
			t.Errorf("template %+v: Validate() = %v, want an error naming %s", tmpl, err, field)
		}
	}
	good := []http.Cookie{
		{Name: "s"},
		{Name: "__Host-s", Secure: true}, // Path "" is the default "/"
		{Name: "s", SameSite: http.SameSiteNoneMode, Secure: true},
	}
	for _, tmpl := range good {
		cfg := kiln.DefaultConfig()
		cfg.Cookie = tmpl
		if err := cfg.Validate(); err != nil {
			t.Errorf("template %+v: Validate() = %v, want nil", tmpl, err)
		}
	}
}
