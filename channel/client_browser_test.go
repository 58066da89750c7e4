package channel_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kilnhq/kiln/channel"
	"github.com/kilnhq/kiln/internal/testutil"
)

func js[T any](t *testing.T, tab context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// waitGot waits until the page's window.got holds n messages and returns
// them.
func waitGot(t *testing.T, tab context.Context, n int) []string {
	t.Helper()
	js(t, tab, chromedp.PollFunction[bool](`n => window.got.length >= n`, chromedp.WithPollingArgs(n),
		chromedp.WithPollingTimeout(20*time.Second)))
	return js(t, tab, chromedp.Evaluate[[]string](`window.got`))
}

// TestClientJS_ReconnectResume runs the JavaScript client in chromium
// over each transport: it receives, publishes, and when every connection
// to the server drops it reconnects by itself and resumes from its last
// position: the messages published meanwhile arrive once each, in order.
func TestClientJS_ReconnectResume(t *testing.T) {
	for _, transport := range []string{"sse", "ws"} {
		t.Run(transport, func(t *testing.T) {
			n1, _ := twoNodes(t, nil, channel.TransportOptions{})
			tab := testutil.Browser(t)
			js(t, tab, chromedp.Steps(chromedp.Navigate(n1.srv.URL+"/test.html")))
			js(t, tab, chromedp.Evaluate[bool](`(() => {
				window.got = []; window.live = 0;
				window.conn = kiln.channels.connect({transport: "`+transport+`", url: "/channels", minDelay: 100, maxDelay: 500});
				conn.subscribe("/chat/r", m => got.push(typeof m.data === "string" ? m.data : m.data.text),
					{onSubscribed: () => window.live++});
				return true })()`))
			js(t, tab, chromedp.PollFunction[bool](`() => window.live >= 1`, chromedp.WithPollingTimeout(20*time.Second)))
			mustPublish(t, n1.hub, "/chat/r", "m1")
			waitGot(t, tab, 1)

			n1.dropAll() // every connection drops, as if the network failed
			mustPublish(t, n1.hub, "/chat/r", "m2")
			mustPublish(t, n1.hub, "/chat/r", "m3")
			js(t, tab, chromedp.PollFunction[bool](`() => window.live >= 2`, chromedp.WithPollingTimeout(20*time.Second)))
			js(t, tab, chromedp.Evaluate[bool](`(conn.publish("/chat/r", {text: "m4"}), true)`))
			got := waitGot(t, tab, 4)
			if want := []string{"m1", "m2", "m3", "m4"}; !slices.Equal(got, want) {
				t.Errorf("after the drop the page got %q, want %q exactly", got, want)
			}
		})
	}
}
