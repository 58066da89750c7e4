package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// system is one contestant: two app instances on loopback, the way the
// load balancer routes between them, and what its engine did.
type system struct {
	name      string
	urls      [2]string
	route     router
	counter   *engineCounter     // nil: no engine
	enginePID int                // 0: no engine process
	shared    bool               // instances share sessions (false for the ceiling)
	managers  []*kiln.Manager    // kiln's, for their Stats
	eng       *natsengine.Engine // kiln's: one app node's engine, for the server's stream state
	servers   []*http.Server
	stops     []func()
	// forget drops the sessions the instances keep in this process's
	// heap (the ceiling's maps; none for a system whose sessions live in
	// its engine): the live-sessions test calls them once it is done
	// with a system, so that its million sessions do not weigh on the
	// garbage collector, which the systems share, while the next one runs.
	forget []func()
}

// forgetSessions runs s.forget.
func (s *system) forgetSessions() {
	for _, f := range s.forget {
		f()
	}
}

// router picks the instance for a client's next request.
type router func(c *client) int

// routeByUser pins each client to one instance (the ceiling, whose
// instances share nothing).
func routeByUser(c *client) int { return c.id % 2 }

// routeRoundRobin alternates instances per request of a client.
func routeRoundRobin(c *client) int { return int(c.sent.Load() % 2) }

// routeByNodeSuffix is a sticky load balancer: it routes by the node suffix
// of the kiln session ID (after the last '.'), pinning new clients by id.
func routeByNodeSuffix(nodes [2]string) router {
	return func(c *client) int {
		v := c.cookie("kiln_session")
		if i := strings.LastIndexByte(v, '.'); i >= 0 {
			for n, node := range nodes {
				if v[i+1:] == node {
					return n
				}
			}
		}
		return c.id % 2
	}
}

// serve starts h on a free loopback port as instance i of s.
func (s *system) serve(i int, h http.Handler) error {
	l, url, err := listen()
	if err != nil {
		return err
	}
	s.serveOn(i, l, url, h)
	return nil
}

// listen opens a free loopback port.
func listen() (net.Listener, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	return l, "http://" + l.Addr().String(), nil
}

// serveOn serves h on l (at url) as instance i of s.
func (s *system) serveOn(i int, l net.Listener, url string, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.urls[i] = url
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
}

// close stops the system's HTTP servers and its clients of the engine.
func (s *system) close() {
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	for _, stop := range s.stops {
		stop()
	}
}

// kilnStats sums the Stats of the system's kiln Managers (zero for peers).
func (s *system) kilnStats() kiln.Stats {
	var t kiln.Stats
	for _, m := range s.managers {
		st := m.Stats()
		t.Requests += st.Requests
		t.FromMemory += st.FromMemory
		t.Handovers += st.Handovers
		t.EngineOps += st.EngineOps
		t.Relayed += st.Relayed
		t.RelayFallbacks += st.RelayFallbacks
		t.RelayErrors += st.RelayErrors
	}
	return t
}

// cached returns the sessions and bytes in the near caches of s's kiln
// Managers.
func (s *system) cached() [2]int64 {
	var c [2]int64
	for _, m := range s.managers {
		st := m.Stats()
		c[0], c[1] = c[0]+st.Cached, c[1]+st.CachedBytes
	}
	return c
}

// stored returns the messages and bytes kiln's server stores for s's
// bucket (zero for peers, or if the server cannot tell).
func (s *system) stored(ctx context.Context) [2]uint64 {
	if s.eng == nil {
		return [2]uint64{}
	}
	msgs, bytes, err := streamState(ctx, s.eng)
	if err != nil {
		return [2]uint64{}
	}
	return [2]uint64{msgs, bytes}
}

func (s *system) counts() counts {
	if s.counter == nil {
		return counts{}
	}
	return s.counter.snapshot()
}

// cpu is the CPU time of this process (load generator and app instances)
// plus the engine process's.
func (s *system) cpu() time.Duration { return cpuTime(0) + s.engineCPU() }

// engineCPU is the engine process's CPU time (0 without one).
func (s *system) engineCPU() time.Duration {
	if s.enginePID == 0 {
		return 0
	}
	return cpuTime(s.enginePID)
}
