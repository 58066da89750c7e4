package cluster

import (
	"context"
	"errors"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/internal/keys"
	"github.com/kilnhq/kiln/internal/lease"
)

// listPage is how many liveness records one List call returns.
const listPage = 1000

// schedule arms the next poll.
func (v *View) schedule() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.closed {
		v.timer = v.opts.Clock.AfterFunc(v.opts.Poll, v.tick)
	}
}

func (v *View) tick() {
	ctx, cancel := context.WithTimeout(context.Background(), v.opts.EngineTimeout)
	defer cancel()
	if err := v.poll(ctx); err != nil {
		v.opts.Logger.Warn("kiln cluster: liveness records not read", "err", err)
	}
	v.schedule()
}

// poll reads the liveness record of every node the View knows, and of
// every node the engine lists (a scan: at most every Options.Discover),
// then forgets nodes not live for Forget.
func (v *View) poll(ctx context.Context) error {
	var listed []string
	var err error
	if now := v.opts.Clock.Now(); v.lastList.IsZero() || now.Sub(v.lastList) >= v.opts.Discover {
		v.lastList = now
		listed, err = v.listNodes(ctx)
	}
	v.mu.Lock()
	names := listed
	for name := range v.nodes {
		names = append(names, name)
	}
	v.mu.Unlock()
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if !seen[name] {
			seen[name] = true
			err = errors.Join(err, v.readLiveness(ctx, name))
		}
	}
	v.forget()
	return err
}

// listNodes returns the nodes that have a liveness record, if the engine
// lists keys.
func (v *View) listNodes(ctx context.Context) ([]string, error) {
	if v.lister == nil {
		return nil, nil
	}
	var names []string
	after := ""
	for {
		page, err := v.lister.List(ctx, keys.LivenessPattern, after, listPage)
		if err != nil {
			return names, err
		}
		for _, k := range page {
			names = append(names, keys.NodeOfLiveness(k))
		}
		if len(page) < listPage {
			return names, nil
		}
		after = page[len(page)-1]
	}
}

// readLiveness reads node name's liveness record into the View. An engine
// error leaves what the View knew.
func (v *View) readLiveness(ctx context.Context, name string) error {
	e, err := v.eng.Get(ctx, keys.Liveness(name))
	inc := ""
	switch {
	case errors.Is(err, engine.ErrNotFound):
	case err != nil:
		return err
	default:
		inc, _, _ = lease.Liveness(e.Value)
	}
	now := v.opts.Clock.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.entry(name)
	n.liveInc = inc
	if inc != "" {
		n.liveSeen = now
	}
	return nil
}

// forget drops the nodes that have been neither live nor reporting for
// Options.Forget.
func (v *View) forget() {
	now := v.opts.Clock.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	for name, n := range v.nodes {
		last := n.liveSeen
		if n.received.After(last) {
			last = n.received
		}
		if !n.view(name, now).Live && now.Sub(last) > v.opts.Forget {
			delete(v.nodes, name)
		}
	}
}
