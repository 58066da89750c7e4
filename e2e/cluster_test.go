package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kilnhq/kiln/internal/testutil"
)

// TestClusterKillOneServer: three kiln servers with sessions replicated
// three times; kill -9 one of them under a write load through two cart
// processes that know all three. No acknowledged increment is lost and
// the carts carry on. The only failures allowed are 503s and broken
// connections in the recovery window after the kill; never a 409.
func TestClusterKillOneServer(t *testing.T) {
	needBinaries(t)
	for _, victim := range []string{"Leader", "Follower"} {
		t.Run(victim, func(t *testing.T) { testClusterKill(t, victim == "Leader") })
	}
}

// recoveryBound is how long the carts may fail after a server dies:
// NATS's Raft elects a new stream leader within seconds.
const recoveryBound = 20 * time.Second

func testClusterKill(t *testing.T, killLeader bool) {
	servers := startCluster(t, 3)
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.url
	}
	engine := strings.Join(urls, ",")
	a := startCart(t, "a", engine)
	b := startCart(t, "b", engine)

	info := streamInfo(t, engine, "KV_kiln")
	if info.Config.Replicas != 3 {
		t.Errorf("stream KV_kiln has %d replicas, want 3", info.Config.Replicas)
	}
	victim := pickServer(t, servers, info.Cluster.Leader, killLeader)

	load := startCounterLoad(t, 6, []string{a.url, b.url})
	load.waitAcked(t, 20, time.Time{}, startTimeout)
	killed := time.Now()
	victim.kill9(t)
	t.Logf("killed %s (stream leader: %v)", victim.name, killLeader)

	t.Cleanup(func() {
		if t.Failed() {
			compareReplicas(t, servers, victim, "KV_kiln")
		}
	})
	took := load.waitAcked(t, 1, killed, recoveryBound)
	t.Logf("every client acknowledged again %s after the kill", took.Round(time.Millisecond))
	load.waitAcked(t, 10, killed, recoveryBound) // and carries on
	var gap time.Duration
	for _, c := range load.clients {
		gap = max(gap, c.longestGapAfter(killed))
	}
	t.Logf("longest time a client went without an acknowledgement after the kill: %s", gap.Round(time.Millisecond))
	if killLeader {
		t.Logf("new stream leader: %s", streamInfo(t, engine, "KV_kiln").Cluster.Leader)
	}
	load.checkNothingLost(t, a.url, recoveryBound, func(o outcome) bool {
		unanswered := o.err != nil || o.status == http.StatusServiceUnavailable
		return unanswered && o.ended.After(killed) && o.began.Before(killed.Add(recoveryBound))
	})
	b.stop(t)
	a.stop(t)
}

// startCluster starts n kiln servers routed to each other, with sessions
// replicated n times, and waits until all are ready.
func startCluster(t *testing.T, n int) []*kilnServer {
	t.Helper()
	ports := testutil.FreePorts(t, 3*n)
	specs := make([]serverSpec, n)
	for i := range specs {
		specs[i] = serverSpec{
			name:     fmt.Sprintf("kiln-%d", i+1),
			port:     ports[3*i],
			httpPort: ports[3*i+1],
			data:     t.TempDir(),
			replicas: n,
			cluster:  &clusterSpec{port: ports[3*i+2]},
		}
	}
	for i := range specs {
		for j := range specs {
			if j != i {
				specs[i].cluster.routes = append(specs[i].cluster.routes, specs[j].cluster.port)
			}
		}
	}
	servers := make([]*kilnServer, n)
	for i, spec := range specs {
		servers[i] = launchKiln(t, spec)
	}
	for _, s := range servers {
		s.waitReady(t)
	}
	return servers
}

// pickServer is the server named leader, or (leader false) another one.
func pickServer(t *testing.T, servers []*kilnServer, leader string, wantLeader bool) *kilnServer {
	t.Helper()
	for _, s := range servers {
		if (s.spec.name == leader) == wantLeader {
			return s
		}
	}
	t.Fatalf("stream leader %q is none of the servers", leader)
	return nil
}

// streamInfo asks the cluster at urls for a stream's info, retrying until
// the stream has a leader.
func streamInfo(t *testing.T, urls, stream string) *jetstream.StreamInfo {
	t.Helper()
	nc, err := nats.Connect(urls, nats.Name("kiln-e2e"))
	if err != nil {
		t.Fatalf("connect %s: %v", urls, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var info *jetstream.StreamInfo
	eventually(t, recoveryBound, "stream "+stream+" has a leader", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		if info, err = st.Info(ctx); err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return errNotYet
		}
		return nil
	})
	return info
}

// compareReplicas logs, for a failed test, the keys whose last message
// differs between what each surviving server answers to a direct get (a
// client connected to one server gets its local replica's answer): a
// replica that serves stale reads after a failover shows up here.
func compareReplicas(t *testing.T, servers []*kilnServer, dead *kilnServer, stream string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	last := map[string]map[string]uint64{} // subject -> server -> sequence
	for _, s := range servers {
		if s == dead {
			continue
		}
		nc, err := nats.Connect(s.url, nats.Name("kiln-e2e-diag"))
		if err != nil {
			t.Logf("diagnose %s: %v", s.name, err)
			continue
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		st, err := js.Stream(ctx, stream)
		if err != nil {
			t.Logf("diagnose %s: %v", s.name, err)
			continue
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(">"))
		if err != nil {
			t.Logf("diagnose %s: %v", s.name, err)
			continue
		}
		for subj := range info.State.Subjects {
			msg, err := st.GetLastMsgForSubject(ctx, subj)
			if last[subj] == nil {
				last[subj] = map[string]uint64{}
			}
			if err == nil {
				last[subj][s.name] = msg.Sequence
			}
		}
	}
	diffs := 0
	for subj, seqs := range last {
		var seen []uint64
		for _, q := range seqs {
			seen = append(seen, q)
		}
		if len(seen) < 2 || seen[0] == seen[1] {
			continue
		}
		if diffs++; diffs <= 10 {
			t.Logf("diagnose: %s: last sequence by server (direct get): %v", subj, seqs)
		}
	}
	t.Logf("diagnose: %d of %d subjects have a different last message on the surviving replicas", diffs, len(last))
}
