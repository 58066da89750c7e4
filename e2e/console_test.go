package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kilnhq/kiln/internal/testutil"
)

// screenshots, if set, is the directory TestConsoleBrowser writes its
// screenshots to (docs/console: go test ./e2e -run TestConsoleBrowser
// -screenshots "$PWD/docs/console").
var screenshots = flag.String("screenshots", "", "write the console's screenshots (PNG) to this directory")

// Passwords of TestConsoleBrowser's users.
const (
	consoleAdminPassword  = "console-admin-pw-61d0"
	consoleViewerPassword = "console-viewer-pw-2e7a"
	consoleNodePassword   = "console-node-pw-b4c8"
)

// newTab is a headless chromium tab, closed when the test ends.
func newTab(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelT := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancel(); cancelT(); cancelA() })
	return ctx
}

// startConsoleKiln runs `kiln server` with an admin, a viewer and a node
// user, and returns it and its console's base URL.
func startConsoleKiln(t *testing.T) (*kilnServer, string) {
	t.Helper()
	spec := newServerSpec(t, "kiln-console")
	pwFile := filepath.Join(t.TempDir(), "node.password")
	if err := os.WriteFile(pwFile, []byte(consoleNodePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := spec.yaml() + fmt.Sprintf("auth:\n  users:\n"+
		"  - {user: web, password_file: %s, role: node}\n"+
		"  - {user: ops, password_env: KILN_E2E_CONSOLE_ADMIN, role: admin}\n"+
		"  - {user: eve, password_env: KILN_E2E_CONSOLE_VIEWER, role: viewer}\n", pwFile)
	cfg := filepath.Join(t.TempDir(), "kiln.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"KILN_E2E_CONSOLE_ADMIN=" + consoleAdminPassword, "KILN_E2E_CONSOLE_VIEWER=" + consoleViewerPassword}
	s := &kilnServer{proc: start(t, spec.name, bins.kiln, env, "server", "-c", cfg), spec: spec}
	s.waitReady(t)
	return s, fmt.Sprintf("http://127.0.0.1:%d/console", spec.httpPort)
}

// TestConsoleBrowser: a real `kiln server` and two real cart processes;
// a user's session is created over HTTP. In chromium an admin logs in to
// the console, sees the cart nodes and finds the session by its
// principal, reads its cart as JSON and invalidates it; the user's next
// cart request gets a fresh session. A viewer sees the session but no
// button, and a POST it forges gets 403.
func TestConsoleBrowser(t *testing.T) {
	needBinaries(t)
	browserPath := testutil.Chromium(t)
	srv, console := startConsoleKiln(t)
	shop1 := startCart(t, "shop1", srv.url, "-user", "web", "-password", consoleNodePassword)
	shop2 := startCart(t, "shop2", srv.url, "-user", "web", "-password", consoleNodePassword)
	hc := newClient(t)
	fp := shopAs(t, hc, shop1.url, "alice", "apple")
	shopAs(t, newClient(t), shop2.url, "bob", "pear")
	shopAs(t, newClient(t), shop1.url, "bob", "plum")

	tab := newTab(t, browserPath)
	consoleLogin(t, tab, console, "ops", consoleAdminPassword)
	waitText(t, tab, console+"/", "#nodes", "shop1", "shop2")
	shot(t, tab, "cluster.png")
	must(t, chromedp.Do(tab, chromedp.Navigate(console+"/sessions")))
	waitText(t, tab, console+"/sessions", "#sessions", fp)
	shot(t, tab, "sessions.png")
	must(t, chromedp.Do(tab, chromedp.Navigate(console+"/sessions?principal=alice"),
		chromedp.Click(chromedp.CSS("#sessions a.fp")), chromedp.WaitVisible(chromedp.ID("fingerprint"))))
	if got := text(t, tab, "#fingerprint"); got != fp {
		t.Fatalf("the session page shows %q, want alice's session %s", got, fp)
	}
	if page := text(t, tab, "main"); !strings.Contains(page, `"apple": 1`) || !strings.Contains(page, "shop1") {
		t.Fatalf("the session page does not show alice's cart as JSON and its holder shop1:\n%s", page)
	}
	shot(t, tab, "session.png")
	must(t, chromedp.Do(tab, chromedp.Click(chromedp.ID("invalidate")), chromedp.WaitVisible(chromedp.ID("message"))))
	if msg := text(t, tab, "#message"); !strings.Contains(msg, fp+" is invalidated") {
		t.Fatalf("after invalidate: %q", msg)
	}
	after, _, err := getCart(hc, shop1.url)
	if err != nil || after.Session == fp || len(after.Items) != 0 {
		t.Fatalf("the next cart request after the invalidation: session %s, items %v (%v); want a fresh, empty session", after.Session, after.Items, err)
	}
	viewerCannotAct(t, browserPath, console)
	for _, p := range []*proc{srv.proc, shop1.proc, shop2.proc} {
		if out := p.stdout.String() + p.stderrText(); strings.Contains(out, consoleAdminPassword) || strings.Contains(out, consoleViewerPassword) {
			t.Errorf("%s logged a console password", p.name)
		}
	}
}

// viewerCannotAct: a viewer sees a session and no action button; the
// invalidation it forges with its own valid CSRF token gets 403.
func viewerCannotAct(t *testing.T, browserPath, console string) {
	t.Helper()
	tab := newTab(t, browserPath)
	consoleLogin(t, tab, console, "eve", consoleViewerPassword)
	must(t, chromedp.Do(tab, chromedp.Navigate(console+"/sessions?principal=bob"),
		chromedp.Click(chromedp.CSS("#sessions a.fp")), chromedp.WaitVisible(chromedp.ID("fingerprint"))))
	buttons, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll("#invalidate, #logout-everywhere").length`))
	if err != nil || buttons != 0 {
		t.Fatalf("the viewer's session page has %d action buttons (%v), want none", buttons, err)
	}
	loc, err := chromedp.Run(tab, chromedp.Location())
	must(t, err)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := hc.PostForm(console+"/login", url.Values{"user": {"eve"}, "password": {consoleViewerPassword}})
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if token == nil {
		t.Fatalf("no CSRF token on the viewer's page:\n%s", body)
	}
	resp, err = hc.PostForm(loc+"/invalidate", url.Values{"csrf": {string(token[1])}})
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the viewer's forged POST: status %d, want 403", resp.StatusCode)
	}
}

// shopAs logs in to the cart at base as principal, adds item, and
// returns the session's fingerprint.
func shopAs(t *testing.T, hc *http.Client, base, principal, item string) string {
	t.Helper()
	if _, status, _, err := call(hc, http.MethodPost, base+"/api/login", url.Values{"user": {principal}}); err != nil || status != http.StatusOK {
		t.Fatalf("login %s: status %d, %v", principal, status, err)
	}
	v, _, err := addItem(hc, base, item, 1)
	if err != nil {
		t.Fatal(err)
	}
	return v.Session
}

func consoleLogin(t *testing.T, tab context.Context, console, user, password string) {
	t.Helper()
	must(t, chromedp.Do(tab, chromedp.Navigate(console+"/login"),
		chromedp.SendKeys(chromedp.ID("user"), user), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("who"))))
}

// waitText loads u until the element sel contains every want (the pages
// show what the nodes reported last), for 30s at most.
func waitText(t *testing.T, tab context.Context, u, sel string, want ...string) {
	t.Helper()
	eventually(t, 30*time.Second, "the console shows "+strings.Join(want, ", "), func() error {
		if err := chromedp.Do(tab, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
			return err
		}
		got := text(t, tab, sel)
		for _, w := range want {
			if !strings.Contains(got, w) {
				return fmt.Errorf("%s shows %q, no %q", sel, got, w)
			}
		}
		return nil
	})
}

func text(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(sel)))
	must(t, err)
	return s
}

// shot saves a full-page screenshot as name under -screenshots, if set.
func shot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	if *screenshots == "" {
		return
	}
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(*screenshots, name), png, 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
