package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// The whole program README.md's "Add kiln to your app" shows, as main's
// body: go test compiles it (it has no Output: it serves until
// interrupted), and TestREADME_ShowsTheProgram checks that the README
// holds run exactly as below.
func Example_program() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// run serves a visit counter with clustered sessions until Ctrl-C.
func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// The engine: a NATS JetStream server embedded in this process, keeping
	// its data in ./kiln-data. To run several instances, start `kiln server`
	// instead and give each instance natsengine.Options{URL: "nats://..."}
	// in place of these four lines and InProcess.
	srv, err := natsengine.StartServer(natsengine.ServerOptions{StoreDir: "kiln-data", DontListen: true})
	if err != nil {
		return err
	}
	defer srv.Shutdown() // closed last: the engine needs it until its own Close
	eng, err := natsengine.Open(ctx, natsengine.Options{InProcess: srv})
	if err != nil {
		return err
	}
	defer eng.Close() // closed second: the Manager needs it until its Close

	cfg := kiln.DefaultConfig()
	cfg.Node = "web1" // this instance's name, also the ID suffix for sticky load balancers
	sessions, err := kiln.New(eng, cfg)
	if err != nil {
		return err
	}
	defer sessions.Close() // closed first: stops its background work, through the engine

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := kiln.FromContext(r.Context())
		n := kiln.GetOr(s, "visits", 0) + 1
		if err := s.Put("visits", n); err != nil {
			http.Error(w, err.Error(), kiln.StatusFor(err))
			return
		}
		fmt.Fprintf(w, "visit %d\n", n)
	})
	web := &http.Server{Addr: "127.0.0.1:8080", Handler: sessions.Handler(mux)} // the one line
	go func() {
		<-ctx.Done()
		web.Shutdown(context.Background()) // before the defers: in-flight requests save their sessions
	}()
	if err := web.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
