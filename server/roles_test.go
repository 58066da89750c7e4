package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
)

// roleConn is a raw NATS connection of one user, with the permission
// errors the server sent it.
type roleConn struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	denied chan string // the server's permission errors, as text
}

func connectAs(t *testing.T, url, user, password string) *roleConn {
	t.Helper()
	rc := &roleConn{denied: make(chan string, 64)}
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case rc.denied <- err.Error():
		default:
		}
	}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	rc.nc = nc
	rc.js, _ = jetstream.New(nc)
	return rc
}

// wantDenied waits for the server's permission error naming subject.
func (rc *roleConn) wantDenied(t *testing.T, subject string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case msg := <-rc.denied:
			if strings.Contains(msg, "Permissions Violation") && strings.Contains(msg, `"`+subject+`"`) {
				return
			}
		case <-deadline:
			t.Fatalf("no permission violation for %q", subject)
		}
	}
}

func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustStream checks, as admin, that the session stream is still there
// with one replica and its subjects.
func mustStream(t *testing.T, admin *roleConn) jetstream.StreamInfo {
	t.Helper()
	st, err := admin.js.Stream(t.Context(), "KV_kiln")
	if err != nil {
		t.Fatalf("admin: stream info: %v", err)
	}
	return *st.CachedInfo()
}

// TestRoles_NodeCannotChangeStreams: a node user cannot delete, update or
// purge the session stream, nor create a stream; the stream is intact.
func TestRoles_NodeCannotChangeStreams(t *testing.T) {
	s := mustRun(t, roleConfig(t))
	node := connectAs(t, s.url, "web", nodePassword)
	admin := connectAs(t, s.url, "ops", adminPassword)
	before := mustStream(t, admin)
	if _, err := node.js.KeyValue(t.Context(), "kiln"); err != nil {
		t.Fatalf("node: open the bucket: %v", err) // stream info is allowed
	}
	if err := node.js.DeleteStream(shortCtx(t), "KV_kiln"); err == nil {
		t.Fatal("node deleted the stream")
	}
	node.wantDenied(t, "$JS.API.STREAM.DELETE.KV_kiln")
	cfg := before.Config
	cfg.MaxAge = time.Minute
	if _, err := node.js.UpdateStream(shortCtx(t), cfg); err == nil {
		t.Fatal("node updated the stream")
	}
	node.wantDenied(t, "$JS.API.STREAM.UPDATE.KV_kiln")
	st, err := node.js.Stream(t.Context(), "KV_kiln")
	if err != nil {
		t.Fatalf("node: stream info: %v", err)
	}
	if err := st.Purge(shortCtx(t)); err == nil {
		t.Fatal("node purged the stream")
	}
	node.wantDenied(t, "$JS.API.STREAM.PURGE.KV_kiln")
	if _, err := node.js.CreateStream(shortCtx(t), jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}}); err == nil {
		t.Fatal("node created a stream")
	}
	node.wantDenied(t, "$JS.API.STREAM.CREATE.EVIL")
	after := mustStream(t, admin)
	if after.Config.MaxAge != before.Config.MaxAge || after.Created != before.Created {
		t.Errorf("stream changed: max age %s, created %s; was %s, %s",
			after.Config.MaxAge, after.Created, before.Config.MaxAge, before.Created)
	}
	checkNoSecrets(t, s)
}

// TestRoles_NodeConfinedToKilnSubjects: a node user can neither
// subscribe nor publish outside the bucket's subjects, nor forge a watch
// event, nor touch another bucket.
func TestRoles_NodeConfinedToKilnSubjects(t *testing.T) {
	s := mustRun(t, roleConfig(t))
	node := connectAs(t, s.url, "web", nodePassword)
	for _, subj := range []string{">", "$KV.kiln.>", "kiln.other.>", "$JS.API.>", "secrets.x"} {
		if _, err := node.nc.SubscribeSync(subj); err != nil {
			t.Fatalf("subscribe %s: %v", subj, err)
		}
		node.wantDenied(t, subj)
	}
	for _, subj := range []string{"secrets.x", "kilnwatch.kiln.s.x.m", "$KV.other.k", "kiln.other.lease.n1",
		"$JS.API.STREAM.INFO.KV_other", "$JS.API.CONSUMER.CREATE.KV_other"} {
		if err := node.nc.Publish(subj, []byte("x")); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
		node.wantDenied(t, subj)
	}
	// What it may do: its bucket's keys and kiln's messaging subjects.
	kv, err := node.js.KeyValue(t.Context(), "kiln")
	if err != nil {
		t.Fatalf("node: bucket: %v", err)
	}
	if _, err := kv.Put(t.Context(), "s.k.m", []byte("v")); err != nil {
		t.Fatalf("node: put: %v", err)
	}
	if _, err := kv.Get(t.Context(), "s.k.m"); err != nil {
		t.Fatalf("node: get: %v", err)
	}
	if err := node.nc.Publish("kiln.kiln.lease.n1", nil); err != nil {
		t.Fatal(err)
	}
	if err := node.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-node.denied:
		t.Fatalf("an allowed call was refused: %s", msg)
	default:
	}
	checkNoSecrets(t, s)
}

// TestRoles_ViewerCannotWrite: a viewer reads the bucket but cannot write
// a key, delete one, or send on kiln's messaging subjects.
func TestRoles_ViewerCannotWrite(t *testing.T) {
	s := mustRun(t, roleConfig(t))
	node := connectAs(t, s.url, "web", nodePassword)
	nkv, err := node.js.KeyValue(t.Context(), "kiln")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nkv.Put(t.Context(), "s.k.m", []byte("v")); err != nil {
		t.Fatal(err)
	}
	viewer := connectAs(t, s.url, "console", viewerPassword)
	kv, err := viewer.js.KeyValue(t.Context(), "kiln")
	if err != nil {
		t.Fatalf("viewer: bucket: %v", err)
	}
	if e, err := kv.Get(t.Context(), "s.k.m"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("viewer: get: %v", err)
	}
	if _, err := kv.Put(shortCtx(t), "s.k.m", []byte("forged")); err == nil {
		t.Fatal("viewer wrote a key")
	}
	viewer.wantDenied(t, "$KV.kiln.s.k.m")
	if err := kv.Delete(shortCtx(t), "s.k.m"); err == nil {
		t.Fatal("viewer deleted a key")
	}
	viewer.wantDenied(t, "$KV.kiln.s.k.m")
	if err := viewer.nc.Publish("kiln.kiln.lease.n1", nil); err != nil {
		t.Fatal(err)
	}
	viewer.wantDenied(t, "kiln.kiln.lease.n1")
	if err := viewer.js.DeleteStream(shortCtx(t), "KV_kiln"); err == nil {
		t.Fatal("viewer deleted the stream")
	}
	viewer.wantDenied(t, "$JS.API.STREAM.DELETE.KV_kiln")
	if err := viewer.js.DeleteConsumer(shortCtx(t), "KV_kiln", "kiln_expire_x"); err == nil {
		t.Fatal("viewer deleted a consumer")
	}
	viewer.wantDenied(t, "$JS.API.CONSUMER.DELETE.KV_kiln.kiln_expire_x")
	if e, err := nkv.Get(t.Context(), "s.k.m"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("the key changed: %v", err)
	}
	checkNoSecrets(t, s)
}

// TestRoles_AdminMayDoEverything: the admin role has every permission.
func TestRoles_AdminMayDoEverything(t *testing.T) {
	s := mustRun(t, roleConfig(t))
	admin := connectAs(t, s.url, "ops", adminPassword)
	if _, err := admin.js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "OPS", Subjects: []string{"ops.>"}}); err != nil {
		t.Fatalf("admin: create a stream: %v", err)
	}
	if err := admin.js.DeleteStream(t.Context(), "OPS"); err != nil {
		t.Fatalf("admin: delete a stream: %v", err)
	}
	if _, err := admin.nc.SubscribeSync(">"); err != nil {
		t.Fatal(err)
	}
	if err := admin.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-admin.denied:
		t.Fatalf("admin refused: %s", msg)
	default:
	}
}

// TestRoles_WrongPasswordRefused: a role user with another's password,
// and the server's own internal user, cannot log in.
func TestRoles_WrongPasswordRefused(t *testing.T) {
	s := mustRun(t, roleConfig(t))
	for _, c := range []struct{ user, pw string }{{"web", adminPassword}, {internalUser, ""}, {internalUser, nodePassword}} {
		nc, err := nats.Connect(s.url, nats.UserInfo(c.user, c.pw), nats.MaxReconnects(0))
		if err == nil {
			nc.Close()
			t.Fatalf("%s logged in with a wrong password", c.user)
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: %v, want an authorization error", c.user, err)
		}
	}
	checkNoSecrets(t, s)
}

// TestRoles_BcryptPassword: a user's password may be a bcrypt hash; the
// client logs in with the clear password, which the config then never
// holds.
func TestRoles_BcryptPassword(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte(nodePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := roleConfig(t)
	cfg.Auth.Users[0].Password = string(hash)
	s := mustRun(t, cfg)
	openAs(t, s.url, "web", nodePassword)
	if _, err := nats.Connect(s.url, nats.UserInfo("web", string(hash)), nats.MaxReconnects(0)); err == nil {
		t.Error("the hash itself logged in")
	}
}
