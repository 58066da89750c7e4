package channel_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// Two nodes' Hubs on one server: a publication on n1 reaches a
// subscriber on n2; a reconnecting client resumes from its position.
func Example() {
	dir, _ := os.MkdirTemp("", "kiln-channel-example")
	defer os.RemoveAll(dir)
	srv, err := natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	ctx := context.Background()
	rules := channel.Rules{{Pattern: "/chat/**", Subscribe: true, Publish: true, Authenticated: true}}
	hub := func(node string) *channel.Hub {
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			log.Fatal(err)
		}
		h, err := channel.NewHub(ctx, nc, channel.Options{Node: node, Authorize: rules})
		if err != nil {
			log.Fatal(err)
		}
		return h
	}
	n1, n2 := hub("n1"), hub("n2")
	defer n1.Close()
	defer n2.Close()

	bob := channel.Client{Principal: "bob", SessionKey: "3fa9c2d1", ConnID: "tab-1"}
	sub, err := n2.Subscribe(ctx, bob, "/chat/room1", nil)
	if err != nil {
		log.Fatal(err)
	}
	first, _ := n1.Publish(ctx, "/chat/room1", []byte("hello"))
	n1.Publish(ctx, "/chat/room1", []byte("world"), channel.WithID("msg-2"))
	for range 2 {
		p := <-sub.C()
		fmt.Printf("%s on n2: %s\n", p.Channel, p.Data)
	}
	sub.Close()

	// Bob reconnects with the position of the first publication he saw.
	since := first.Position()
	again, err := n2.Subscribe(ctx, bob, "/chat/room1", &since)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("recovered: %s\n", (<-again.C()).Data)
	again.Close()
	// Output:
	// /chat/room1 on n2: hello
	// /chat/room1 on n2: world
	// recovered: world
}
