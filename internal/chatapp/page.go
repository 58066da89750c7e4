package chatapp

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed page.html
var pageHTML string

//go:embed static
var staticFiles embed.FS

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// page answers GET / with the chat page; the script does the rest.
func (a *app) page(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, map[string]string{"Node": a.node, "User": userOf(r)}); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

// staticHandler serves the page's script and style.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFiles, "static") // a literal, present directory
	return http.FileServerFS(sub)
}
