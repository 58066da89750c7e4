package main

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// newKiln is one app instance on kiln, with its own engine connection to
// the kiln server, counted by c.
// relayURL, if not "", turns request relaying on (kiln.Config.RelayURL):
// the URL this instance listens on.
func newKiln(ctx context.Context, url, node, relayURL string, c *engineCounter) (http.Handler, *kiln.Manager, *natsengine.Engine, func(), error) {
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: url, Name: "bench-" + node})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cfg := kiln.DefaultConfig()
	cfg.Node = node
	cfg.RelayURL = relayURL
	m, err := kiln.New(countingEngine{Engine: eng, c: c}, cfg)
	if err != nil {
		eng.Close()
		return nil, nil, nil, nil, err
	}
	stop := func() { m.Close(); eng.Close() }
	h := m.Handler(newApp(func(_ http.ResponseWriter, r *http.Request) (session, error) {
		return kilnSession{kiln.FromContext(r.Context())}, nil
	}))
	return h, m, eng, stop, nil
}

// streamState sums the messages and bytes of the JetStream streams of
// kiln's session buckets (every shard): what the server stores.
func streamState(ctx context.Context, eng *natsengine.Engine) (msgs, bytes uint64, err error) {
	js, err := jetstream.New(eng.Conn())
	if err != nil {
		return 0, 0, err
	}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if !strings.HasPrefix(name, "KV_") {
			continue
		}
		st, err := js.Stream(ctx, name)
		if err != nil {
			return 0, 0, err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return 0, 0, err
		}
		msgs, bytes = msgs+info.State.Msgs, bytes+info.State.Bytes
	}
	return msgs, bytes, names.Err()
}

type kilnSession struct{ s *kiln.Session }

func (k kilnSession) counter() (int, error) {
	n, _, err := kiln.Get[int](k.s, "counter")
	return n, err
}
func (k kilnSession) setCounter(n int) error { return k.s.Put("counter", n) }
func (k kilnSession) setPad(chunks [][]byte) error {
	for i, c := range chunks {
		if err := k.s.Put(padName(i), c); err != nil {
			return err
		}
	}
	return nil
}
func (k kilnSession) save() error { return nil }

// engineCounter counts what app instances send to their engine: calls
// (store reads and commits, lease request/replies), commits, and the bytes
// of the values written.
type engineCounter struct {
	ops, writes, bytes atomic.Int64
}

type counts struct{ ops, writes, bytes int64 }

func (c *engineCounter) snapshot() counts {
	return counts{c.ops.Load(), c.writes.Load(), c.bytes.Load()}
}

func (a counts) sub(b counts) counts {
	return counts{a.ops - b.ops, a.writes - b.writes, a.bytes - b.bytes}
}

// countingEngine is an engine.Engine that counts into c.
type countingEngine struct {
	engine.Engine
	c *engineCounter
}

func (e countingEngine) Get(ctx context.Context, key string) (engine.Entry, error) {
	e.c.ops.Add(1)
	return e.Engine.Get(ctx, key)
}

func (e countingEngine) Commit(ctx context.Context, ops ...engine.Op) ([]uint64, error) {
	e.c.ops.Add(1)
	e.c.writes.Add(1)
	for _, op := range ops {
		e.c.bytes.Add(int64(len(op.Value)))
	}
	return e.Engine.Commit(ctx, ops...)
}

func (e countingEngine) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	e.c.ops.Add(1)
	return e.Engine.Request(ctx, subject, data)
}
