package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// The systems' names, in report order.
const (
	ceilingName = "no sessions (ceiling)"
	scsName     = "scs + Redis"
	gorillaName = "gorilla/sessions + Redis"
	stickyName  = "kiln, sticky"
	rrName      = "kiln, round robin"
	rrLeaseName = "kiln, round robin, lease moves"
)

// env is what the systems run against.
type env struct {
	redisAddr string
	redisPID  int
	kilnURL   string
	kilnPID   int
	bin       string // the kiln binary
}

// systemMakers are the systems in report order, by the short name -systems
// takes. An optIn system runs only when -systems names it.
var systemMakers = []struct {
	short string
	mk    func(context.Context, env) (*system, error)
	optIn bool
}{
	{"ceiling", newCeilingSystem, false}, {"scs", newSCSSystem, false}, {"gorilla", newGorillaSystem, false},
	{"sticky", newKilnSticky, false}, {"rr", newKilnRoundRobin, false},
	{"rr-lease", newKilnRoundRobinLease, true},
}

func shortNames() []string {
	var names []string
	for _, m := range systemMakers {
		names = append(names, m.short)
	}
	return names
}

// newSystems starts the systems only names (comma-separated short names;
// "" = all) selects, two instances each, in report order. The ceiling
// always runs: every ratio is to it.
func newSystems(ctx context.Context, e env, only string) ([]*system, error) {
	want := map[string]bool{"ceiling": true}
	for _, n := range strings.Split(only, ",") {
		want[strings.TrimSpace(n)] = true
	}
	for n := range want {
		if n != "" && !slices.Contains(shortNames(), n) {
			return nil, fmt.Errorf("-systems: unknown system %q (want %s)", n, strings.Join(shortNames(), ","))
		}
	}
	var all []*system
	for _, m := range systemMakers {
		if (only != "" || m.optIn) && !want[m.short] {
			continue
		}
		s, err := m.mk(ctx, e)
		if err != nil {
			closeAll(all)
			return nil, err
		}
		all = append(all, s)
	}
	return all, nil
}

func closeAll(systems []*system) {
	for _, s := range systems {
		s.close()
	}
}

func newCeilingSystem(context.Context, env) (*system, error) {
	s := &system{name: ceilingName, route: routeByUser}
	for i := range 2 {
		h, forget := newCeiling()
		s.forget = append(s.forget, forget)
		if err := s.serve(i, h); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func newSCSSystem(_ context.Context, e env) (*system, error) {
	s := &system{name: scsName, route: routeRoundRobin, counter: &engineCounter{}, enginePID: e.redisPID, shared: true}
	for i := range 2 {
		pool := newPool(e.redisAddr, s.counter)
		s.stops = append(s.stops, func() { pool.Close() })
		if err := s.serve(i, newSCS(pool)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func newGorillaSystem(_ context.Context, e env) (*system, error) {
	s := &system{name: gorillaName, route: routeRoundRobin, counter: &engineCounter{}, enginePID: e.redisPID, shared: true}
	for i := range 2 {
		pool := newPool(e.redisAddr, s.counter)
		s.stops = append(s.stops, func() { pool.Close() })
		h, err := newGorilla(pool)
		if err != nil {
			return nil, err
		}
		if err := s.serve(i, h); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func newKilnSticky(ctx context.Context, e env) (*system, error) {
	nodes := [2]string{"s1", "s2"}
	return newKilnSystem(ctx, e, stickyName, nodes, routeByNodeSuffix(nodes), false)
}

// newKilnRoundRobin is kiln behind a round-robin balancer, as its docs
// recommend running it there: with request relaying (Config.RelayURL).
func newKilnRoundRobin(ctx context.Context, e env) (*system, error) {
	return newKilnSystem(ctx, e, rrName, [2]string{"r1", "r2"}, routeRoundRobin, true)
}

// newKilnRoundRobinLease is kiln behind a round-robin balancer without
// relaying: the lease moves to every request (what relaying replaced).
func newKilnRoundRobinLease(ctx context.Context, e env) (*system, error) {
	return newKilnSystem(ctx, e, rrLeaseName, [2]string{"q1", "q2"}, routeRoundRobin, false)
}

func newKilnSystem(ctx context.Context, e env, name string, nodes [2]string, route router, relay bool) (*system, error) {
	s := &system{name: name, route: route, counter: &engineCounter{}, enginePID: e.kilnPID, shared: true}
	for i, node := range nodes {
		l, url, err := listen()
		if err != nil {
			s.close()
			return nil, err
		}
		relayURL := ""
		if relay {
			relayURL = url
		}
		h, m, eng, stop, err := newKiln(ctx, e.kilnURL, node, relayURL, s.counter)
		if err != nil {
			l.Close()
			s.close()
			return nil, fmt.Errorf("kiln node %s: %w", node, err)
		}
		s.stops, s.managers, s.eng = append(s.stops, stop), append(s.managers, m), eng
		s.serveOn(i, l, url, h)
	}
	return s, nil
}
