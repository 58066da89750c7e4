package natsengine

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readStream is a shard's stream as seen from one of the engine's read
// connections (Options.ReadConns).
type readStream struct {
	nc     *nats.Conn
	stream jetstream.Stream
}

// openReaders connects the read connections and binds each to every
// shard's stream. The streams exist: openShards made sure of it.
func (e *Engine) openReaders(ctx context.Context) error {
	if e.opts.ReadConns < 1 {
		return nil
	}
	ctx, cancel := e.opCtx(ctx)
	defer cancel()
	ropts := e.opts
	ropts.Name += " reads"
	for range e.opts.ReadConns {
		nc, err := connect(ctx, ropts)
		if err != nil {
			return err
		}
		e.readConns = append(e.readConns, nc)
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("natsengine: jetstream: %w", err)
		}
		for _, sh := range e.shards {
			st, err := js.Stream(ctx, streamName(sh.bucket))
			if err != nil {
				return fmt.Errorf("natsengine: bucket %s: bind read connection: %w", sh.bucket, mapErr(err))
			}
			sh.reads = append(sh.reads, readStream{nc: nc, stream: st})
		}
	}
	return nil
}

// readStream is the stream handle a Get of this shard goes through: the
// next connected read connection's, in turn, or the engine's own
// connection's if none is connected (or there are none).
func (sh *shard) readStream() jetstream.Stream {
	n := uint32(len(sh.reads))
	for range n {
		if r := sh.reads[sh.nextRead.Add(1)%n]; r.nc.IsConnected() {
			return r.stream
		}
	}
	return sh.stream
}

// closeReaders closes the read connections.
func (e *Engine) closeReaders() {
	for _, nc := range e.readConns {
		nc.Close()
	}
}
