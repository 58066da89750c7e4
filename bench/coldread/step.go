package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/engine/natsengine"
)

type stepConfig struct {
	n, ops, workers int
	budget          time.Duration
	prof            string // "" for none
	base            string
	maxBytes        int64    // the bucket's MaxBytes; > 0 as kiln server sets it
	kinds           []string // of measureAll, each on its own restart
}

// hotSessions is the size of the hot set measured beside the cold one.
const hotSessions = 1000

// runStep fills a fresh store with n sessions, then measures Gets and
// compare-and-sets, each on a freshly restarted server, and removes the
// store.
func runStep(ctx context.Context, cfg stepConfig) error {
	dir, err := os.MkdirTemp(cfg.base, "coldread")
	if err != nil {
		return err
	}
	stepDirs.Store(dir, true)
	defer func() { os.RemoveAll(dir); stepDirs.Delete(dir) }()
	t0 := time.Now()
	revs := make([]atomic.Uint64, cfg.n)
	if err := withServer(ctx, dir, cfg.maxBytes, func(srv *child, eng *natsengine.Engine) error {
		return fill(ctx, eng, cfg.n, 128, revs)
	}); err != nil {
		return fmt.Errorf("fill %d: %w", cfg.n, err)
	}
	fmt.Printf("n=%d, bucket MaxBytes %d: filled %d records in %s; %s\n", cfg.n, cfg.maxBytes, 3*cfg.n,
		time.Since(t0).Round(time.Second), blockSizes(dir))
	if err := withServer(ctx, dir, cfg.maxBytes, func(srv *child, eng *natsengine.Engine) error {
		return measureHOL(ctx, srv, eng, cfg, revs)
	}); err != nil {
		return err
	}
	for _, kind := range cfg.kinds {
		if err := withServer(ctx, dir, cfg.maxBytes, func(srv *child, eng *natsengine.Engine) error {
			return measureAll(ctx, srv, eng, cfg, kind, revs)
		}); err != nil {
			return err
		}
	}
	return nil
}

// withServer starts a server process on dir and an engine on it, runs fn,
// and stops both.
func withServer(ctx context.Context, dir string, maxBytes int64, fn func(*child, *natsengine.Engine) error) error {
	t0 := time.Now()
	srv, err := startChild(dir)
	if err != nil {
		return err
	}
	eng, err := natsengine.Open(ctx, natsengine.Options{URL: srv.url, Name: "coldread", OpTimeout: 30 * time.Second, MaxBytes: maxBytes, ReadConns: 2})
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

// measureAll prints the store's size and measures one kind of operation:
// on random sessions first (cold: nothing loaded since the restart), on
// a hot set, on random sessions again (warm), after a garbage collection
// in the server, and for a while at a steady pace.
func measureAll(ctx context.Context, srv *child, eng *natsengine.Engine, cfg stepConfig, kind string, revs []atomic.Uint64) error {
	if kind == "get" {
		if err := printStream(ctx, eng, cfg.n); err != nil {
			return err
		}
	}
	m := measurer{srv: srv, eng: eng, cfg: cfg, revs: revs}
	fn := map[string]op{"get": m.get, "get+cas": m.getCAS, "cas": m.cas}[kind]
	prof := ""
	if cfg.prof != "" {
		prof = strings.TrimSuffix(cfg.prof, ".prof") + "-" + strings.ReplaceAll(kind, "+", "") + ".prof"
	}
	cold, err := m.profiled(ctx, prof, kind+" cold", cfg.n, fn)
	if err != nil {
		return err
	}
	hot := m.run(ctx, kind+" hot", hotSessions, fn)
	warm := m.run(ctx, kind+" warm", cfg.n, fn)
	if err := srv.do("gc"); err != nil {
		return err
	}
	afterGC := m.run(ctx, kind+" after GC", cfg.n, fn)
	for _, r := range []result{hot, warm, afterGC} {
		if r.err != nil {
			return r.err
		}
	}
	fmt.Printf("  %s: server CPU/op cold %.1f×, warm %.1f×, after one GC %.1f× of hot; p99 cold %.1f× of hot; server RSS %d MB\n",
		kind, ratio(cold.cpuPerOp, hot.cpuPerOp), ratio(warm.cpuPerOp, hot.cpuPerOp), ratio(afterGC.cpuPerOp, hot.cpuPerOp),
		ratio(cold.p99, hot.p99), srv.rss()>>20)
	return m.steady(ctx, kind, fn)
}

// profiled is run with the server's CPU profile written to path ("" for none).
func (m *measurer) profiled(ctx context.Context, path, name string, n int, fn op) (result, error) {
	if path != "" {
		if err := m.srv.do("prof " + path); err != nil {
			return result{}, err
		}
	}
	r := m.run(ctx, name, n, fn)
	if path != "" {
		if err := m.srv.do("stop"); err != nil {
			return result{}, err
		}
	}
	return r, r.err
}

// steady runs windows of random operations at full pace, printing the
// server's collections in each.
func (m *measurer) steady(ctx context.Context, kind string, fn op) error {
	for w := range steadyWindows {
		gc0, _, err := m.srv.gcs()
		if err != nil {
			return err
		}
		r := m.run(ctx, fmt.Sprintf("%s steady %d", kind, w+1), m.cfg.n, fn)
		if r.err != nil {
			return r.err
		}
		gc1, heap, err := m.srv.gcs()
		if err != nil {
			return err
		}
		fmt.Printf("      server: %d collections in the window, heap %d MB\n", gc1-gc0, heap)
	}
	return nil
}

// steadyWindows is how many windows steady measures.
const steadyWindows = 4

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

// blockSizes describes the stream's message block files: how many, and
// the largest (the block size the server chose).
func blockSizes(dir string) string {
	var n int
	var largest int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".blk") {
			if fi, err := d.Info(); err == nil {
				n, largest = n+1, max(largest, fi.Size())
			}
		}
		return nil
	})
	return fmt.Sprintf("%d blocks, largest %.1f MB", n, float64(largest)/(1<<20))
}

// measureHOL times hot writes while cold Gets of the same engine run
// beside them, with the Gets on the engine's one connection (ReadConns
// -1, before) and on 2 read connections of their own (after),
// in the order before, after, after, before over four quarters of the
// sessions (each cold, on the same restart), so that what changes during
// the run falls on both.
func measureHOL(ctx context.Context, srv *child, eng *natsengine.Engine, cfg stepConfig, revs []atomic.Uint64) error {
	one, err := natsengine.Open(ctx, natsengine.Options{URL: srv.url, Name: "coldread-1conn", OpTimeout: 30 * time.Second,
		MaxBytes: cfg.maxBytes, ReadConns: -1})
	if err != nil {
		return err
	}
	defer one.Close()
	d := min(cfg.budget, 4*time.Second)
	lats, err := hotWrites(ctx, eng, cfg.n, d/4, revs)
	if err != nil {
		return err
	}
	slices.Sort(lats)
	fmt.Printf("  %-32s hot CAS p50 %8s p99 %8s\n", "alone", lats[len(lats)/2].Round(time.Microsecond),
		lats[len(lats)*99/100].Round(time.Microsecond))
	q := (cfg.n - hotSessions) / 4
	for i, e := range []*natsengine.Engine{one, eng, eng, one} {
		name := "gets on the one connection"
		if e == eng {
			name = "gets on 2 read connections"
		}
		if err := headOfLine(ctx, srv, name, e, e, cfg.n, i*q, (i+1)*q, d, revs); err != nil {
			return err
		}
	}
	return nil
}
