package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/testutil"
)

// TestClusterStartupOrder follows docs/server.md's three-server start-up
// with the real binaries: two of three servers start (they elect a
// leader but cannot place a 3-replica bucket), a web node starts against
// all three and must wait rather than create a 1-replica bucket, then the
// third server starts. The bucket must have three replicas (sessions.
// replicas left at its default). Then, under a write load, kill -9 the
// server leading the stream: every acknowledged session change is found
// afterwards.
func TestClusterStartupOrder(t *testing.T) {
	needBinaries(t)
	specs := clusterSpecs(t, 3)
	first := []*kilnServer{launchKiln(t, specs[0]), launchKiln(t, specs[1])}
	urls := make([]string, len(specs))
	for i, s := range specs {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", s.port)
	}
	engine := strings.Join(urls, ",")
	cart := launchCart(t, "a", engine)
	// The web node is up and retrying while the bucket does not exist.
	cart.waitFor(t, func() bool { return strings.Contains(cart.stderrText(), "waiting for kiln server") },
		"a retry while the bucket is missing", startTimeout)
	for _, s := range first {
		if s.exited() {
			t.Fatalf("%s exited with two of three servers up", s.name)
		}
	}
	servers := append(first, launchKiln(t, specs[2]))
	for _, s := range servers {
		s.waitReady(t)
	}
	cart.url = cart.waitLine(t, "listening on ", startTimeout)

	info := streamInfo(t, engine, "KV_kiln")
	if info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream KV_kiln has %d replicas configured, %d followers; want 3, 2", info.Config.Replicas, len(info.Cluster.Replicas))
	}
	victim := pickServer(t, servers, info.Cluster.Leader, true)
	b := startCart(t, "b", engine)
	load := startCounterLoad(t, 6, []string{cart.url, b.url})
	load.waitAcked(t, 20, time.Time{}, startTimeout)
	killed := time.Now()
	victim.kill9(t)
	t.Logf("killed the stream leader %s", victim.name)
	load.waitAcked(t, 10, killed, recoveryBound)
	load.checkNothingLost(t, cart.url, recoveryBound, func(o outcome) bool {
		unanswered := o.err != nil || o.status == http.StatusServiceUnavailable
		return unanswered && o.ended.After(killed) && o.began.Before(killed.Add(recoveryBound))
	})
	b.stop(t)
	cart.stop(t)
}

// clusterSpecs are n servers routed to each other, sessions.replicas at
// its default.
func clusterSpecs(t *testing.T, n int) []serverSpec {
	t.Helper()
	ports := testutil.FreePorts(t, 3*n)
	specs := make([]serverSpec, n)
	for i := range specs {
		specs[i] = serverSpec{
			name: fmt.Sprintf("kiln-%d", i+1), port: ports[3*i], httpPort: ports[3*i+1],
			data: t.TempDir(), cluster: &clusterSpec{port: ports[3*i+2]},
		}
	}
	for i := range specs {
		for j := range specs {
			if j != i {
				specs[i].cluster.routes = append(specs[i].cluster.routes, specs[j].cluster.port)
			}
		}
	}
	return specs
}
