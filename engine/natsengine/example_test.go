package natsengine_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// An embedded server, in memory and without a port, and a client of it.
func ExampleOpen() {
	srv, err := natsengine.StartServer(natsengine.ServerOptions{InMemory: true, DontListen: true})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	ctx := context.Background()
	eng, err := natsengine.Open(ctx, natsengine.Options{InProcess: srv, Memory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	revs, err := eng.Commit(ctx,
		engine.Op{Key: "session.abc.attr.cart", Value: []byte("3 items"), IfNew: true},
		engine.Op{Key: "session.abc.attr.user", Value: []byte("ann"), IfNew: true})
	if err != nil {
		log.Fatal(err)
	}
	// A write conditioned on a revision the key does not have changes nothing.
	_, err = eng.Commit(ctx, engine.Op{Key: "session.abc.attr.cart", Value: []byte("4 items"), IfRevision: revs[1]})
	fmt.Println(errors.Is(err, engine.ErrConflict))
	ent, _ := eng.Get(ctx, "session.abc.attr.cart")
	fmt.Printf("%s at revision %d\n", ent.Value, ent.Revision)
	// Output:
	// true
	// 3 items at revision 1
}
