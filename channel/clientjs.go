package channel

import (
	_ "embed"
	"net/http"
	"strconv"
)

//go:embed client.js
var clientJS []byte

// ClientHandler serves the JavaScript client (client.js): a dependency-free
// browser script that defines kiln.channels.connect. It speaks the SSE,
// publish and WebSocket endpoints Mount serves.
func ClientHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(clientJS)))
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(clientJS)
	})
}

// ClientJS returns the JavaScript client's source.
func ClientJS() []byte { return append([]byte(nil), clientJS...) }
