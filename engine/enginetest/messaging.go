package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
)

// testMessaging checks publish/subscribe, queue groups and request/reply.
func testMessaging(t *testing.T, h Harness) {
	parallel(t, "PublishReachesEverySubscriber", func(t *testing.T) { testFanOut(t, h) })
	parallel(t, "QueueSubscribersShare", func(t *testing.T) { testQueue(t, h) })
	parallel(t, "RequestReply", func(t *testing.T) { testRequestReply(t, h) })
	parallel(t, "RequestNoResponders", func(t *testing.T) {
		e := h.open1(t)
		_, err := e.Request(timeout(t, 5*time.Second), "m.nobody", []byte("hi"))
		wantErr(t, err, engine.ErrNoResponders, "Request to nobody")
	})
	parallel(t, "RequestTimeout", func(t *testing.T) { testRequestTimeout(t, h) })
	parallel(t, "RespondToPublishFails", func(t *testing.T) { testRespondToPublish(t, h) })
	parallel(t, "Stop", func(t *testing.T) { testSubscribeStop(t, h) })
}

// msgLog records "subject:data" of each message a subscriber gets.
type msgLog = recorder[string]

// mustSubscribe subscribes a recorder to subject.
func mustSubscribe(t *testing.T, e engine.Engine, subject, queue string, log *msgLog) engine.Subscription {
	t.Helper()
	sub, err := e.Subscribe(subject, queue, func(m *engine.Msg) { log.add(m.Subject + ":" + string(m.Data)) })
	if err != nil {
		t.Fatalf("Subscribe(%s, %q): %v", subject, queue, err)
	}
	return sub
}

// mustPublish publishes data on subject.
func mustPublish(t *testing.T, e engine.Engine, subject, data string) {
	t.Helper()
	if err := e.Publish(t.Context(), subject, []byte(data)); err != nil {
		t.Fatalf("Publish(%s): %v", subject, err)
	}
}

// testFanOut: every plain subscriber of a subject, on any client, gets
// each message; subscribers of other subjects do not.
func testFanOut(t *testing.T, h Harness) {
	c := h.open(t, 2)
	logs := []*msgLog{{}, {}, {}}
	mustSubscribe(t, c[0], "m.a", "", logs[0])
	mustSubscribe(t, c[1], "m.a", "", logs[1])
	other := &msgLog{}
	mustSubscribe(t, c[0], "m.b", "", other)
	mustSubscribe(t, c[0], "m.a", "", logs[2])
	for i := range 3 {
		mustPublish(t, c[1], "m.a", fmt.Sprint(i))
	}
	mustPublish(t, c[1], "m.b", "end")
	eventually(t, waitFor, "fan-out", func() bool {
		return logs[0].len() == 3 && logs[1].len() == 3 && logs[2].len() == 3 && other.len() == 1
	})
	for i, log := range logs {
		for j := range 3 {
			if count(log, fmt.Sprint("m.a:", j)) != 1 {
				t.Errorf("subscriber %d got %v, want m.a:0..2 once each", i, log.all())
			}
		}
	}
	if got := other.all(); got[0] != "m.b:end" {
		t.Fatalf("m.b subscriber got %v", got)
	}
}

// testQueue: each message reaches exactly one member of a queue group,
// and every plain subscriber as well.
func testQueue(t *testing.T, h Harness) {
	c := h.open(t, 2)
	queue, plain := &msgLog{}, &msgLog{}
	for i := range 3 {
		mustSubscribe(t, c[i%2], "m.q", "workers", queue)
	}
	mustSubscribe(t, c[1], "m.q", "", plain)
	const n = 30
	for i := range n {
		mustPublish(t, c[0], "m.q", fmt.Sprint(i))
	}
	eventually(t, waitFor, "queue delivery", func() bool { return plain.len() == n && queue.len() >= n })
	for i := range n {
		if k := count(queue, fmt.Sprint("m.q:", i)); k != 1 {
			t.Errorf("message %d reached %d queue members, want 1", i, k)
		}
	}
}

// testRequestReply: a request from one client is answered by a
// subscriber on another.
func testRequestReply(t *testing.T, h Harness) {
	c := h.open(t, 2)
	_, err := c[1].Subscribe("m.echo", "", func(m *engine.Msg) {
		_ = m.Respond(bytes.ToUpper(m.Data))
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	got, err := c[0].Request(timeout(t, 5*time.Second), "m.echo", []byte("hello"))
	if err != nil || string(got) != "HELLO" {
		t.Fatalf("Request = %q, %v; want HELLO", got, err)
	}
}

// testRequestTimeout: a request nobody answers ends with ctx, as
// ErrUnavailable wrapping ctx.Err().
func testRequestTimeout(t *testing.T, h Harness) {
	c := h.open(t, 2)
	mustSubscribe(t, c[1], "m.silent", "", &msgLog{})
	ctx := timeout(t, 200*time.Millisecond)
	_, err := c[0].Request(ctx, "m.silent", []byte("hi"))
	wantErr(t, err, engine.ErrUnavailable, "Request nobody answers")
	wantErr(t, err, context.DeadlineExceeded, "Request nobody answers")
}

// testRespondToPublish: a published message cannot be answered.
func testRespondToPublish(t *testing.T, h Harness) {
	e := h.open1(t)
	errs := &recorder[error]{}
	_, err := e.Subscribe("m.p", "", func(m *engine.Msg) { errs.add(m.Respond([]byte("no"))) })
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	mustPublish(t, e, "m.p", "hi")
	eventually(t, waitFor, "delivery", func() bool { return errs.len() == 1 })
	if errs.all()[0] == nil {
		t.Fatal("Respond to a published message succeeded")
	}
}

// testSubscribeStop: after Stop returns, messages are not delivered.
func testSubscribeStop(t *testing.T, h Harness) {
	c := h.open(t, 2)
	stopped, live := &msgLog{}, &msgLog{}
	sub := mustSubscribe(t, c[0], "m.s", "", stopped)
	mustSubscribe(t, c[0], "m.s", "", live)
	mustPublish(t, c[1], "m.s", "1")
	eventually(t, waitFor, "first message", func() bool { return stopped.len() == 1 })
	mustStop(t, sub)
	mustPublish(t, c[1], "m.s", "2")
	eventually(t, waitFor, "second message", func() bool { return live.len() == 2 })
	never(t, "stopped subscriber got a message", func() bool { return stopped.len() > 1 })
}
