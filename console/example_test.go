package console_test

import (
	"context"
	"log"
	"net/http"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/cluster"
	"github.com/kilnhq/kiln/console"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// An app mounts the console at /console/ beside its own handlers, on an
// Admin Manager (no expiry work) and a view of the web nodes.
func ExampleNew() {
	ctx := context.Background()
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: "nats://127.0.0.1:4222"})
	if err != nil {
		log.Fatal(err)
	}
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Admin = "console", true
	admin, err := kiln.New(eng, cfg)
	if err != nil {
		log.Fatal(err)
	}
	view, err := cluster.Watch(ctx, eng, cluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	c, err := console.New(console.Options{
		Sessions: admin,
		Nodes:    view,
		Users:    []console.User{{Name: "ops", Password: "$2a$10$…", Role: console.RoleAdmin}},
		Secure:   true, // served through a TLS proxy
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	mux.Handle("/console/", c)
	log.Fatal(http.ListenAndServe("127.0.0.1:8090", mux))
}
