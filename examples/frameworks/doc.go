// Package frameworks holds examples of kiln under chi, gin and echo (v4),
// one package each, tested through httptest. This module has its own
// go.mod so that none of those frameworks enters kiln's.
//
// Each example shows the one line that installs kiln and a handler that
// reads the session through the framework's context:
//
//	chi:  r.Use(m.Handler)                              // chiapp
//	gin:  r.Use(ginapp.Sessions(m))                     // ginapp: an adapter, see its doc
//	echo: e.Use(echo.WrapMiddleware(m.Handler))         // echoapp
//
// The pitfalls of each, and what the examples do about them, are in
// README.md beside this file.
package frameworks
