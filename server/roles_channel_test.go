package server

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/channel"
)

// TestRoles_NodeRunsAHub: a node user runs a channel Hub (creating its
// stream and presence bucket, publishing, subscribing, recovering,
// presence, logout) without a permission violation, and cannot forge a
// delivered publication nor update, purge or delete the channel stream.
func TestRoles_NodeRunsAHub(t *testing.T) {
	s := mustRun(t, roleConfig(t))
	node := connectAs(t, s.url, "web", nodePassword)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	h, err := channel.NewHub(ctx, node.nc, channel.Options{Node: "n1",
		Authorize: channel.Rules{{Pattern: "/chat/**", Subscribe: true, Publish: true}}})
	if err != nil {
		t.Fatalf("node: NewHub: %v", err)
	}
	defer h.Close()
	c := channel.Client{Principal: "bob", SessionKey: "fp", ConnID: "c1"}
	first, err := h.Publish(ctx, "/chat/room1", []byte("one"))
	if err != nil {
		t.Fatalf("node: publish: %v", err)
	}
	since := first.Position()
	if _, err := h.Publish(ctx, "/chat/room1", []byte("two")); err != nil {
		t.Fatalf("node: publish: %v", err)
	}
	sub, err := h.Subscribe(ctx, c, "/chat/room1", &since)
	if err != nil {
		t.Fatalf("node: recovering subscribe: %v", err)
	}
	if p := <-sub.C(); string(p.Data) != "two" {
		t.Fatalf("node: recovered %q", p.Data)
	}
	if _, err := h.Publish(ctx, "/chat/room1", []byte("three")); err != nil {
		t.Fatalf("node: publish: %v", err)
	}
	if p := <-sub.C(); string(p.Data) != "three" {
		t.Fatalf("node: live %q", p.Data)
	}
	if ms, err := h.Presence(ctx, "/chat/room1"); err != nil || len(ms) != 1 {
		t.Fatalf("node: presence %v, %v", ms, err)
	}
	if _, err := h.History(ctx, "/chat/room1", nil, 0); err != nil {
		t.Fatalf("node: history: %v", err)
	}
	if err := h.ClosePrincipal(ctx, "bob"); err != nil {
		t.Fatalf("node: logout broadcast: %v", err)
	}
	for range sub.C() {
	}
	checkNoViolations(t, s)

	if err := node.nc.Publish("kilnch.kiln.out.chat.room1", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	node.wantDenied(t, "kilnch.kiln.out.chat.room1")
	for _, name := range []string{"KILNCH_kiln", "KV_KILNCH_PRESENCE_kiln"} {
		if err := node.js.DeleteStream(shortCtx(t), name); err == nil {
			t.Fatalf("node deleted %s", name)
		}
		node.wantDenied(t, "$JS.API.STREAM.DELETE."+name)
		st, err := node.js.Stream(t.Context(), name)
		if err != nil {
			t.Fatalf("node: stream info %s: %v", name, err)
		}
		if err := st.Purge(shortCtx(t)); err == nil {
			t.Fatalf("node purged %s", name)
		}
		node.wantDenied(t, "$JS.API.STREAM.PURGE."+name)
		cfg := st.CachedInfo().Config
		cfg.MaxAge = time.Hour
		if _, err := node.js.UpdateStream(shortCtx(t), cfg); err == nil {
			t.Fatalf("node updated %s", name)
		}
		node.wantDenied(t, "$JS.API.STREAM.UPDATE."+name)
	}
	if _, err := node.js.CreateStream(shortCtx(t), jetstream.StreamConfig{Name: "KILNCH_other", Subjects: []string{"kilnch.other.in.>"}}); err == nil {
		t.Fatal("node created another bucket's channel stream")
	}
	node.wantDenied(t, "$JS.API.STREAM.CREATE.KILNCH_other")
}
