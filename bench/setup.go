package main

import (
	"context"
	"fmt"
)

// The systems' names, in report order.
const (
	ceilingName = "no sessions (ceiling)"
	scsName     = "scs + Redis"
	gorillaName = "gorilla/sessions + Redis"
	stickyName  = "kiln, sticky"
	rrName      = "kiln, round robin"
)

// env is what the systems run against.
type env struct {
	redisAddr string
	redisPID  int
	kilnURL   string
	kilnPID   int
	bin       string // the kiln binary
}

// newSystems starts the five systems, two instances each, in report order.
func newSystems(ctx context.Context, e env) ([]*system, error) {
	var all []*system
	for _, mk := range []func(context.Context, env) (*system, error){
		newCeilingSystem, newSCSSystem, newGorillaSystem, newKilnSticky, newKilnRoundRobin,
	} {
		s, err := mk(ctx, e)
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
		if err := s.serve(i, newCeiling()); err != nil {
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
	return newKilnSystem(ctx, e, stickyName, nodes, routeByNodeSuffix(nodes))
}

func newKilnRoundRobin(ctx context.Context, e env) (*system, error) {
	return newKilnSystem(ctx, e, rrName, [2]string{"r1", "r2"}, routeRoundRobin)
}

func newKilnSystem(ctx context.Context, e env, name string, nodes [2]string, route router) (*system, error) {
	s := &system{name: name, route: route, counter: &engineCounter{}, enginePID: e.kilnPID, shared: true}
	for i, node := range nodes {
		h, m, eng, stop, err := newKiln(ctx, e.kilnURL, node, s.counter)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("kiln node %s: %w", node, err)
		}
		s.stops, s.managers, s.eng = append(s.stops, stop), append(s.managers, m), eng
		if err := s.serve(i, h); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}
