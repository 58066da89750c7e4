package natsengine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// TestList_ManyKeys: a scan longer than one pull request (1000 messages)
// reads every key, and leaves no consumer behind.
func TestList_ManyKeys(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{})
	ctx := context.Background()
	var all []string
	for batch := range 3 {
		var ops []engine.Op
		for i := range 900 {
			key := fmt.Sprintf("b.k.%04d", batch*900+i)
			ops = append(ops, engine.Op{Key: key, Value: []byte("v")})
			all = append(all, key)
		}
		mustCommit(t, e, ops...)
	}
	mustCommit(t, e, engine.Op{Key: "b.k.0007", Delete: true})
	all = slices.DeleteFunc(all, func(k string) bool { return k == "b.k.0007" })

	got, err := e.List(ctx, "b.>", "", 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, all) {
		t.Fatalf("List returned %d keys, want %d (first %q)", len(got), len(all), got[:min(5, len(got))])
	}
	got, err = e.List(ctx, "b.k.*", "b.k.1999", 3)
	if want := []string{"b.k.2000", "b.k.2001", "b.k.2002"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("List after b.k.1999 = %q, %v; want %q", got, err, want)
	}
	wantConsumers(t, e, "KV_kiln", 0)
}

// TestList_Sharded: keys of every shard come back in one sorted list;
// each shard's scan consumer is deleted, its OnExpire consumers kept.
func TestList_Sharded(t *testing.T) {
	srv := natsengine.StartTestServer(t)
	e := MustOpenEngine(t, srv, natsengine.Options{Shards: 4})
	ctx := context.Background()
	if _, err := e.OnExpire(ctx, "g", "t.*", func(context.Context, string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 30 {
		k := fmt.Sprintf("sess%02d", i)
		mustCommit(t, e, sessionOps(k)...)
		want = append(want, "s."+k+".m")
	}
	got, err := e.List(ctx, "s.*.m", "", 100)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("List(s.*.m) = %q, %v; want %q", got, err, want)
	}
	for i := range 4 {
		wantConsumers(t, e, fmt.Sprintf("KV_kiln-%d", i), 1)
	}
}

// wantConsumers checks how many consumers a stream has.
func wantConsumers(t *testing.T, e *natsengine.Engine, stream string, n int) {
	t.Helper()
	js, _ := jetstream.New(e.Conn())
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Consumers; got != n {
		t.Errorf("stream %s has %d consumers, want %d", stream, got, n)
	}
}
