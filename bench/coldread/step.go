package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine/natsengine"
)

type stepConfig struct {
	n, ops, workers int
	budget          time.Duration
	prof            string // "" for none
	base            string
}

// hotSessions is the size of the hot set measured beside the cold one.
const hotSessions = 1000

// runStep fills a fresh store with n sessions, restarts its server and
// measures, then removes the store.
func runStep(ctx context.Context, cfg stepConfig) error {
	dir, err := os.MkdirTemp(cfg.base, "coldread")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	t0 := time.Now()
	if err := withServer(ctx, dir, func(srv *child, eng *natsengine.Engine) error {
		return fill(ctx, eng, cfg.n, 128)
	}); err != nil {
		return fmt.Errorf("fill %d: %w", cfg.n, err)
	}
	fmt.Printf("n=%d: filled %d records in %s\n", cfg.n, 3*cfg.n, time.Since(t0).Round(time.Second))
	return withServer(ctx, dir, func(srv *child, eng *natsengine.Engine) error {
		return measureAll(ctx, srv, eng, cfg)
	})
}

// withServer starts a server process on dir and an engine on it, runs fn,
// and stops both.
func withServer(ctx context.Context, dir string, fn func(*child, *natsengine.Engine) error) error {
	t0 := time.Now()
	srv, err := startChild(dir)
	if err != nil {
		return err
	}
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: srv.url, Name: "coldread", OpTimeout: 30 * time.Second})
	if err != nil {
		srv.stop()
		return err
	}
	fmt.Printf("  server up and engine open in %s\n", time.Since(t0).Round(time.Millisecond))
	err = fn(srv, eng)
	eng.Close()
	if serr := srv.stop(); err == nil && serr != nil {
		err = fmt.Errorf("server process: %w", serr)
	}
	return err
}

// measureAll prints the store's size and each measurement.
func measureAll(ctx context.Context, srv *child, eng *natsengine.Engine, cfg stepConfig) error {
	if err := printStream(ctx, eng, cfg.n); err != nil {
		return err
	}
	m := measurer{srv: srv, eng: eng, cfg: cfg}
	if cfg.prof != "" {
		if err := srv.do("prof " + cfg.prof); err != nil {
			return err
		}
	}
	cold := m.run(ctx, "cold get", cfg.n, m.get)
	if cfg.prof != "" {
		if err := srv.do("stop"); err != nil {
			return err
		}
	}
	hot := m.run(ctx, "hot get", hotSessions, m.get)
	coldCAS := m.run(ctx, "cold get+cas", cfg.n, m.getCAS)
	hotCAS := m.run(ctx, "hot get+cas", hotSessions, m.getCAS)
	again := m.run(ctx, "cold get again", cfg.n, m.get)
	for _, r := range []result{cold, hot, coldCAS, hotCAS, again} {
		if r.err != nil {
			return r.err
		}
	}
	fmt.Printf("  cold/hot: get p50 %.1f×, server CPU %.1f×; get+cas p50 %.1f×, server CPU %.1f×; server RSS %d MB\n",
		ratio(cold.p50, hot.p50), ratio(cold.cpuPerOp, hot.cpuPerOp),
		ratio(coldCAS.p50, hotCAS.p50), ratio(coldCAS.cpuPerOp, hotCAS.cpuPerOp), srv.rss()>>20)
	return nil
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func printStream(ctx context.Context, eng *natsengine.Engine, n int) error {
	js, err := jetstream.New(eng.Conn())
	if err != nil {
		return err
	}
	for name := range js.StreamNames(ctx).Name() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("  stream %s: %d msgs, %d MB, %d deleted, %.0f B/session\n", name, info.State.Msgs,
			info.State.Bytes>>20, info.State.NumDeleted, float64(info.State.Bytes)/float64(n))
	}
	return nil
}
