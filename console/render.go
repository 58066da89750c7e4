package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed assets
var assets embed.FS

// pageNames are the templates in assets/, each rendered inside layout.html.
var pageNames = []string{"login", "cluster", "sessions", "session", "charts", "message"}

var templates = parseTemplates()

func parseTemplates() map[string]*template.Template {
	funcs := template.FuncMap{"when": when, "bytes": byteSize}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html"))
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t := template.Must(layout.Clone())
		out[name] = template.Must(t.ParseFS(assets, "assets/"+name+".html"))
	}
	return out
}

func staticFiles() http.Handler {
	sub, _ := fs.Sub(assets, "assets/static")
	return http.FileServerFS(sub)
}

// view is what every page's template gets.
type view struct {
	Prefix  string
	Page    string
	User    string // "" on the login page
	Role    string
	CanAct  bool   // RoleAdmin: action buttons are shown
	CSRF    string // the login's token, for forms
	Refresh int    // seconds between reloads; 0: none
	Data    any
}

// render writes template name with data; it buffers, so that a template
// error is a clean 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	v := view{Prefix: c.opts.Prefix, Page: name, Data: data}
	if l, ok := r.Context().Value(loginKey{}).(*login); ok {
		v.User, v.Role, v.CanAct, v.CSRF = l.user, l.role, l.role == RoleAdmin, l.csrf
	}
	if name == "cluster" || name == "charts" {
		v.Refresh = int(c.opts.SampleInterval / time.Second)
	}
	var buf bytes.Buffer
	if err := templates[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		c.opts.Logger.Error("kiln console: render", "page", name, "err", err)
		http.Error(w, "console: page not rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// message is the view of the message page: an outcome or an error.
type message struct {
	Title, Text string
	Back        string // a path under the prefix to go back to
}

// fail renders an error page with status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, text string) {
	c.render(w, r, status, "message", message{Title: http.StatusText(status), Text: text})
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// byteSize formats a count of bytes (int64 or uint64).
func byteSize(v any) string {
	var n float64
	switch x := v.(type) {
	case int64:
		n = float64(x)
	case uint64:
		n = float64(x)
	}
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}
