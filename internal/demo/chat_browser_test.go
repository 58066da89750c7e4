package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kilnhq/kiln/internal/demo"
	"github.com/kilnhq/kiln/internal/testutil"
)

// TestDemo_ChatInBrowsers: two chromium browsers open the demo's chat
// through its round-robin balancer, one over WebSocket, one over SSE;
// what one types shows in the other.
func TestDemo_ChatInBrowsers(t *testing.T) {
	testutil.Chromium(t) // before the demo starts: skips or fails without one
	d := mustStart(t, demo.Options{Nodes: 3})
	tab := func() context.Context { return testutil.Browser(t) }
	do := func(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	join := func(ctx context.Context, transport, user string) {
		do(ctx, user+" joins", chromedp.Navigate(d.ChatURL()+"#lobby"),
			chromedp.WaitVisible(chromedp.CSS("#user")),
			chromedp.SetValue(chromedp.CSS("#transport"), transport),
			chromedp.SendKeys(chromedp.CSS("#user"), user),
			chromedp.Click(chromedp.CSS("#login button")),
			chromedp.WaitReady(chromedp.CSS("#state.live")))
	}
	see := func(ctx context.Context, text string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.PollFunction[bool](
			`t => [...document.querySelectorAll("#messages .text")].some(e => e.textContent === t)`,
			chromedp.WithPollingArgs(text), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("see %q: %v", text, err)
		}
	}
	ada, bob := tab(), tab()
	join(ada, "ws", "ada")
	join(bob, "sse", "bob")
	for i, m := range []string{"one", "two", "three"} {
		from, to := ada, bob
		if i%2 == 1 {
			from, to = bob, ada
		}
		do(from, "say "+m, chromedp.SendKeys(chromedp.CSS("#text"), m), chromedp.Click(chromedp.CSS("#composer button")))
		see(to, m)
	}
}
