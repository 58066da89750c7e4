package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/centrifugal/centrifuge"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/engine/natsengine"
)

// benchChannel is the channel every subscriber follows.
const benchChannel = "/bench/fan"

// quietLog drops the systems' info lines, which would flood the report.
var quietLog = slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError}))

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// serveLoopback serves h on a fresh loopback port.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// newKilnChannels is 3 web nodes, each a kiln Manager and channel Hub on
// its own connection to kiln server, serving channel.SSEHandler.
func newKilnChannels(ctx context.Context, e env) (*chanSystem, error) {
	s := &chanSystem{name: "kiln channels (SSE)", serverP: e.kilnPID,
		ready: func(line string) bool { return strings.Contains(line, `"recovered"`) }}
	var closers []func()
	s.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var hubs []*channel.Hub
	for i := 1; i <= 3; i++ {
		node := fmt.Sprintf("c%d", i)
		eng, err := natsengine.Open(ctx, natsengine.Options{URL: e.kilnURL, Name: "bench-ch-" + node, Bucket: "benchch"})
		if err != nil {
			s.close()
			return nil, err
		}
		closers = append(closers, func() { eng.Close() })
		hub, err := channel.NewHub(ctx, eng.Conn(), channel.Options{Node: node, Bucket: "benchch", Logger: quietLog,
			ClientBuffer: 1024, Authorize: channel.Rules{{Pattern: "/bench/**", Subscribe: true}}})
		if err != nil {
			s.close()
			return nil, err
		}
		closers = append(closers, func() { hub.Close() })
		cfg := kiln.DefaultConfig()
		cfg.Node, cfg.Logger = node, quietLog
		m, err := kiln.New(eng, cfg)
		if err != nil {
			s.close()
			return nil, err
		}
		closers = append(closers, func() { m.Close() })
		base, stop, err := serveLoopback(m.Handler(channel.SSEHandler(hub, channel.TransportOptions{Node: node, Logger: quietLog})))
		if err != nil {
			s.close()
			return nil, err
		}
		closers = append(closers, stop)
		s.urls = append(s.urls, nodeURL(base, "/", url.Values{"channel": {benchChannel}}))
		hubs = append(hubs, hub)
	}
	s.publish = func(ctx context.Context, data []byte) error {
		_, err := hubs[0].Publish(ctx, benchChannel, data)
		return err
	}
	return s, nil
}

// newCentrifugeChannels is 3 centrifuge nodes on one Redis broker, each
// serving centrifuge's SSE handler with every connection subscribed to
// the channel server-side.
func newCentrifugeChannels(ctx context.Context, e env) (*chanSystem, error) {
	s := &chanSystem{name: "centrifuge + Redis (SSE)", serverP: e.redisPID,
		ready: func(line string) bool { return strings.Contains(line, `"connect"`) }}
	var closers []func()
	s.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var nodes []*centrifuge.Node
	for i := 1; i <= 3; i++ {
		n, err := newCentrifugeNode(e.redisAddr)
		if err != nil {
			s.close()
			return nil, err
		}
		closers = append(closers, func() { _ = n.Shutdown(context.Background()) })
		base, stop, err := serveLoopback(centrifuge.NewSSEHandler(n, centrifuge.SSEConfig{}))
		if err != nil {
			s.close()
			return nil, err
		}
		closers = append(closers, stop)
		s.urls = append(s.urls, nodeURL(base, "/", url.Values{"cf_connect": {`{"id":1,"connect":{}}`}}))
		nodes = append(nodes, n)
	}
	s.publish = func(ctx context.Context, data []byte) error {
		_, err := nodes[0].Publish("fan", data, centrifuge.WithHistory(100, 10*time.Minute))
		return err
	}
	return s, nil
}

func newCentrifugeNode(redisAddr string) (*centrifuge.Node, error) {
	n, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelError})
	if err != nil {
		return nil, err
	}
	shard, err := centrifuge.NewRedisShard(n, centrifuge.RedisShardConfig{Address: redisAddr})
	if err != nil {
		return nil, err
	}
	broker, err := centrifuge.NewRedisBroker(n, centrifuge.RedisBrokerConfig{Prefix: "bench", Shards: []*centrifuge.RedisShard{shard}})
	if err != nil {
		return nil, err
	}
	n.SetBroker(broker)
	n.OnConnecting(func(context.Context, centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: "bench"},
			Subscriptions: map[string]centrifuge.SubscribeOptions{"fan": {}}}, nil
	})
	n.OnConnect(func(*centrifuge.Client) {})
	if err := n.Run(); err != nil {
		return nil, errors.Join(err, n.Shutdown(context.Background()))
	}
	return n, nil
}
