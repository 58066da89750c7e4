package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The three-server test: write throughput of kiln (sticky, every request
// an increment) on a cluster of three real `kiln server` processes on
// loopback, replicas 3, with the session bucket split into 1, 3 and 6
// shards, against the single server of the rest of the run.

// clusterRow is one configuration of the three-server test.
type clusterRow struct {
	servers, shards int
	res             loadResult
	startup         time.Duration
	err             string
}

// runServers3 runs the test and returns its Markdown. bin is the kiln
// binary, single the URL of the run's one-server kiln server.
func runServers3(ctx context.Context, o options, bin, tmp, single string, singlePID int) string {
	spec := loadSpec{users: o.users, warmup: min(o.warmup, time.Second), window: min(o.window, 5*time.Second), writeShare: 1}
	rows := []clusterRow{writeRun(ctx, spec, 1, 1, single, []int{singlePID}, 0)}
	for _, shards := range parseInts(o.shards) {
		if ctx.Err() != nil {
			break
		}
		rows = append(rows, clusterWrites(ctx, spec, bin, filepath.Join(tmp, fmt.Sprintf("c3-%d", shards)), shards))
	}
	return "\n## Writes on three servers\n\n" + clusterTable(rows) + servers3Notes
}

// clusterWrites starts a three-server cluster whose bucket has shards
// shards, measures writes on it and stops it.
func clusterWrites(ctx context.Context, spec loadSpec, bin, dir string, shards int) clusterRow {
	p := &procs{}
	defer p.stopAll()
	t0 := time.Now()
	urls, pids, err := startCluster(p, bin, dir, shards)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: three servers, %d shards: %v\n", shards, err)
		return clusterRow{servers: 3, shards: shards, err: err.Error()}
	}
	return writeRun(ctx, spec, 3, shards, strings.Join(urls, ","), pids, time.Since(t0))
}

// writeRun measures writes of kiln sticky (two app nodes) against url.
func writeRun(ctx context.Context, spec loadSpec, servers, shards int, url string, pids []int, startup time.Duration) clusterRow {
	row := clusterRow{servers: servers, shards: shards, startup: startup}
	s, err := newKilnSystem(ctx, env{kilnURL: url}, fmt.Sprintf("kiln, %d server(s), %d shard(s)", servers, shards),
		[2]string{"w1", "w2"}, routeByNodeSuffix([2]string{"w1", "w2"}), false)
	if err != nil {
		row.err = err.Error()
		return row
	}
	defer s.close()
	cpu0 := cpuOf(pids)
	row.res = runLoad(ctx, s, spec, newClients(spec.users))
	row.res.cpu = cpuOf(pids) - cpu0 // the servers' CPU over warm-up and window
	fmt.Fprintf(os.Stderr, "bench: writes, %d server(s), %d shard(s): %8.0f req/s  errors %d\n", servers, shards, row.res.rate(), row.res.errs)
	return row
}

func cpuOf(pids []int) time.Duration {
	var d time.Duration
	for _, pid := range pids {
		d += cpuTime(pid)
	}
	return d
}

// startCluster writes three servers' config files under dir, starts them
// and returns their client URLs once all print that they are ready (the
// bucket, three replicas, exists only once all three are up).
func startCluster(p *procs, bin, dir string, shards int) ([]string, []int, error) {
	ports := make([]int, 6) // client ports, then route ports
	for i := range ports {
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		ports[i] = port
	}
	type started struct {
		url string
		err error
	}
	ready := make(chan started, 3)
	var pids []int
	for i := range 3 {
		cfgPath, err := writeClusterConfig(dir, i, ports, shards)
		if err != nil {
			return nil, nil, err
		}
		cmd, out, err := p.startKilnServerConfig(bin, cfgPath, filepath.Join(dir, fmt.Sprintf("kiln-%d.log", i)))
		if err != nil {
			return nil, nil, err
		}
		pids = append(pids, cmd.Process.Pid)
		go func() {
			url, err := waitLine(out, "kiln server ready: ", 3*time.Minute)
			ready <- started{url, err}
		}()
	}
	var urls []string
	for range 3 {
		r := <-ready
		if r.err != nil {
			return nil, nil, fmt.Errorf("kiln server in a cluster: %w (logs: %s)", r.err, lastLogLine(dir))
		}
		urls = append(urls, r.url)
	}
	return urls, pids, nil
}

// writeClusterConfig writes server i's kiln.yaml and returns its path.
func writeClusterConfig(dir string, i int, ports []int, shards int) (string, error) {
	data := filepath.Join(dir, fmt.Sprintf("data-%d", i))
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", err
	}
	var routes []string
	for j := range 3 {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+j]))
		}
	}
	cfg := fmt.Sprintf(`server:
  name: bench-%d
  listen: 127.0.0.1:%d
  data: %s
http:
  listen: ""
cluster:
  name: bench
  listen: 127.0.0.1:%d
  routes: [%s]
sessions:
  shards: %d
`, i, ports[i], data, ports[3+i], strings.Join(routes, ", "), shards)
	path := filepath.Join(dir, fmt.Sprintf("kiln-%d.yaml", i))
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// lastLogLine returns the last line of server 0's log in dir.
func lastLogLine(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "kiln-0.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func clusterTable(rows []clusterRow) string {
	var b strings.Builder
	b.WriteString("| servers | shards | writes/s | × one server | p50 / p99 | errors | engine ops per write | servers' CPU µs per write | cluster start |\n|---|---|---|---|---|---|---|---|---|\n")
	base := 0.0
	for _, r := range rows {
		if r.err != "" {
			fmt.Fprintf(&b, "| %d | %d | failed: %s | | | | | | |\n", r.servers, r.shards, r.err)
			continue
		}
		if base == 0 {
			base = r.res.rate()
		}
		lat := append([]time.Duration(nil), r.res.lat...)
		sortDurations(lat)
		ops, cpu := 0.0, 0.0
		if r.res.incrs > 0 {
			ops = float64(r.res.eng.ops) / float64(r.res.incrs)
		}
		if r.res.reqs > 0 {
			cpu = float64(r.res.cpu.Microseconds()) / float64(r.res.reqs)
		}
		start := "–"
		if r.startup > 0 {
			start = r.startup.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %d | %d | %.0f | %.2f | %s / %s | %d | %.2f | %.0f | %s |\n", r.servers, r.shards, r.res.rate(), r.res.rate()/base,
			ms(percentile(lat, 50)), ms(percentile(lat, 99)), r.res.errs, ops, cpu, start)
	}
	return b.String()
}

const servers3Notes = `
kiln sticky (two app nodes, every request an increment on the user's own session) against the
run's single server (1 replica) and against three ` + "`kiln server`" + ` processes clustered on
loopback (replicas 3: every write is replicated to all three and acknowledged by a majority),
with the session bucket in 1, 3 or 6 shards (streams, each with its own leader). All of it shares
this machine's cores, so the cluster's numbers show what replication costs here, not how writes
scale with machines: docs/scaling.md says how they scale on paper. The servers' CPU is summed over
all three, warm-up included, divided by the window's requests.
`
