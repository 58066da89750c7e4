package chatapp_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kilnhq/kiln/internal/testutil"
)

// browserBound bounds each browser step.
const browserBound = 20 * time.Second

// run runs steps in tab within browserBound.
func run(t *testing.T, tab context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserBound)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v; the page: %s", what, err, pageState(tab))
	}
}

// pageState describes the page, for a failure message.
func pageState(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({url: location.href,
		state: (document.getElementById("state")||{}).className, login: (document.getElementById("login-error")||{}).textContent,
		notice: (document.getElementById("notice")||{}).textContent, body: document.body.innerText.slice(0, 300)})`))
	if err != nil {
		return err.Error()
	}
	return s
}

// value runs a in tab within browserBound and returns its value.
func value[T any](t *testing.T, tab context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserBound)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// joinAs opens the chat on url in tab, picks the transport and logs in.
func joinAs(t *testing.T, tab context.Context, url, transport, user string) {
	t.Helper()
	run(t, tab, user+" joins",
		chromedp.Navigate(url+"/#lobby"),
		chromedp.WaitVisible(chromedp.CSS("#user")),
		chromedp.SetValue(chromedp.CSS("#transport"), transport),
		chromedp.SendKeys(chromedp.CSS("#user"), user),
		chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.CSS("#composer")),
		chromedp.WaitReady(chromedp.CSS("#state.live")),
	)
}

func say(t *testing.T, tab context.Context, text string) {
	t.Helper()
	run(t, tab, "say "+text,
		chromedp.SendKeys(chromedp.CSS("#text"), text),
		chromedp.Click(chromedp.CSS("#composer button")),
	)
}

// waitText waits until a message with exactly text shows in tab.
func waitText(t *testing.T, tab context.Context, text string) {
	t.Helper()
	value(t, tab, "see "+text, chromedp.PollFunction[bool](
		`t => [...document.querySelectorAll("#messages .text")].some(e => e.textContent === t)`,
		chromedp.WithPollingArgs(text), chromedp.WithPollingTimeout(browserBound)))
}

// TestBrowser_ChatAcrossNodes: two browsers, one on n1 over WebSocket and
// one on n2 over Server-Sent Events: what one types shows in the other,
// a newcomer sees the history and who is online, and markup typed as a
// message is shown as text, never run.
func TestBrowser_ChatAcrossNodes(t *testing.T) {
	ns := chatNodes(t, 2)
	alice, bob := testutil.Browser(t), testutil.Browser(t)
	joinAs(t, alice, ns[0].srv.URL, "ws", "alice")
	say(t, alice, "said before bob came")
	joinAs(t, bob, ns[1].srv.URL, "sse", "bob")
	waitText(t, bob, "said before bob came")

	say(t, alice, "hello from n1")
	waitText(t, bob, "hello from n1")
	say(t, bob, "hello from n2")
	waitText(t, alice, "hello from n2")

	value(t, alice, "see bob online", chromedp.PollFunction[bool](
		`() => [...document.querySelectorAll("#people li")].some(e => e.firstChild.textContent === "bob")`,
		chromedp.WithPollingTimeout(browserBound)))

	const xss = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`
	say(t, bob, xss)
	waitText(t, alice, xss)
	injected := value(t, alice, "check markup", chromedp.Evaluate[bool](
		`window.__xss !== undefined || document.querySelector("#messages img, #messages script") !== null`))
	if injected {
		t.Error("a message's markup became elements (or ran) in the page")
	}
}
