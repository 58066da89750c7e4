package cartapp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/cartapp"
)

// The app on one node, with an in-process NATS server as its engine.
func ExampleWrap() {
	srv, err := natsengine.StartServer(natsengine.ServerOptions{InMemory: true, DontListen: true})
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown()
	eng, err := natsengine.Open(context.Background(), natsengine.Options{InProcess: srv, Memory: true})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	cfg := kiln.DefaultConfig()
	cfg.Node = "n1"
	cfg.ErrorHandler = cartapp.ErrorHandler
	m, err := kiln.New(eng, cfg)
	if err != nil {
		panic(err)
	}
	h := cartapp.Wrap(m, "n1")

	req := httptest.NewRequest("POST", "/api/cart/add", strings.NewReader("item=apple&qty=2"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	fmt.Println(rec.Code, rec.Header().Get("X-Kiln-Node"), strings.Contains(rec.Body.String(), `"items":{"apple":2}`))
	// Output: 200 n1 true
}
