package cluster_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/cluster"
	"github.com/kilnhq/kiln/engine/memengine"
)

func ExampleWatch() {
	eng := memengine.New(memengine.Options{})
	cfg := kiln.DefaultConfig()
	cfg.Node, cfg.Logger = "web1", quiet
	m, _ := kiln.New(eng, cfg)
	defer m.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := cluster.Watch(ctx, eng, cluster.Options{})
	if err != nil {
		panic(err)
	}
	defer v.Close()
	// Watch has read the liveness records (memengine lists keys): web1 is
	// there at once, live by its record, and by its report once it arrives.
	for _, n := range v.Nodes() {
		fmt.Println(n.Name, n.Live)
	}
	// Output: web1 true
}
