package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// embeddedOpenTimeout bounds the in-process connection to the embedded
// server.
const embeddedOpenTimeout = 15 * time.Second

// store is the node's session engine, and the embedded NATS server it
// runs when no -engine URL is given.
type store struct {
	eng *natsengine.Engine
	srv *natsengine.Server // nil with -engine
	dir string             // the embedded server's store; removed by Close
}

// openStore connects to opts.engine, or embeds a NATS server in a
// temporary directory and connects to it in-process.
func openStore(ctx context.Context, opts options, log *slog.Logger) (*store, error) {
	if opts.engine != "" {
		eng, err := openRetrying(ctx, engineOptions(opts, log), opts.connectTimeout, log)
		if err != nil {
			return nil, err
		}
		return &store{eng: eng}, nil
	}
	st := &store{}
	if err := st.embed(log); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, embeddedOpenTimeout)
	defer cancel()
	var err error
	eopts := natsengine.Options{InProcess: st.srv, Bucket: opts.bucket, Name: "kiln-cart-" + opts.node, Logger: log}
	if st.eng, err = natsengine.Open(ctx, eopts); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// engineOptions are the options of a connection to the server at
// opts.engine.
func engineOptions(opts options, log *slog.Logger) natsengine.Options {
	return natsengine.Options{
		URL:      opts.engine,
		Bucket:   opts.bucket,
		Name:     "kiln-cart-" + opts.node,
		Logger:   log,
		Token:    opts.token,
		User:     opts.user,
		Password: opts.password,
		// The seed file's path only: natsengine reads it.
		NKeySeedFile: opts.nkeySeed,
		RootCAs:      opts.tlsCA,
		CertFile:     opts.tlsCert,
		KeyFile:      opts.tlsKey,
	}
}

// embed starts a NATS server on a random loopback port, so that other
// nodes can join with -engine.
func (st *store) embed(log *slog.Logger) error {
	dir, err := os.MkdirTemp("", "kiln-cart-nats-")
	if err != nil {
		return fmt.Errorf("embedded NATS store: %w", err)
	}
	st.dir = dir
	st.srv, err = natsengine.StartServer(natsengine.ServerOptions{Port: -1, StoreDir: dir})
	if err != nil {
		st.Close()
		return err
	}
	log.Info("cart: embedded NATS server started; other nodes can join with -engine",
		"url", st.srv.ClientURL(), "store", dir)
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
