package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// Connection attempts at start: each up to attemptTimeout, the pause
// between them doubling from firstRetryDelay to maxRetryDelay.
const (
	attemptTimeout  = 2 * time.Second
	firstRetryDelay = 250 * time.Millisecond
	maxRetryDelay   = 5 * time.Second
)

// store is the node's engine, and the embedded NATS server it runs when
// no -engine URL is given.
type store struct {
	eng *natsengine.Engine
	srv *natsengine.Server // nil with -engine
	dir string             // the embedded server's store; removed by Close
}

func openStore(ctx context.Context, opts options, log *slog.Logger) (*store, error) {
	eopts := natsengine.Options{URL: opts.engine, Bucket: opts.bucket, Name: "kiln-chat-" + opts.node, Logger: log,
		Token: opts.token, User: opts.user, Password: opts.password}
	st := &store{}
	if opts.engine == "" {
		if err := st.embed(log); err != nil {
			return nil, err
		}
		eopts.URL, eopts.InProcess = "", st.srv
	}
	var err error
	if st.eng, err = openRetrying(ctx, eopts, opts.connectTimeout, log); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// openRetrying opens the engine, waiting up to wait for its server and
// logging each retry; refused credentials end it at once.
func openRetrying(ctx context.Context, eopts natsengine.Options, wait time.Duration, log *slog.Logger) (*natsengine.Engine, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for delay := firstRetryDelay; ; delay = min(2*delay, maxRetryDelay) {
		actx, acancel := context.WithTimeout(ctx, attemptTimeout)
		eng, err := natsengine.Open(actx, eopts)
		acancel()
		switch {
		case err == nil:
			return eng, nil
		case errors.Is(err, nats.ErrAuthorization):
			return nil, fmt.Errorf("kiln server refused the credentials: %w", err)
		case !errors.Is(err, engine.ErrUnavailable):
			return nil, err
		}
		log.Warn("chat: waiting for kiln server, retrying", "in", delay, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no kiln server after %s: %w", wait, err)
		case <-time.After(delay):
		}
	}
}

func (st *store) embed(log *slog.Logger) error {
	dir, err := os.MkdirTemp("", "kiln-chat-nats-")
	if err != nil {
		return fmt.Errorf("embedded NATS store: %w", err)
	}
	st.dir = dir
	if st.srv, err = natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: dir}); err != nil {
		return err
	}
	log.Info("chat: embedded NATS server started; other nodes can join with -engine", "url", st.srv.ClientURL())
	return nil
}

// Close closes the engine, then stops the embedded server and removes its
// store.
func (st *store) Close() {
	if st.eng != nil {
		st.eng.Close()
	}
	if st.srv != nil {
		st.srv.Shutdown()
	}
	if st.dir != "" {
		os.RemoveAll(st.dir)
	}
}
