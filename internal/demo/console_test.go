package demo_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/demo"
)

// TestDemo_Console: the demo's console takes the credentials it
// generated and shows the demo's nodes and a session a visitor started
// through the proxy.
func TestDemo_Console(t *testing.T) {
	d := mustStart(t, demo.Options{Nodes: 2})
	visitor := &http.Client{Timeout: 10 * time.Second}
	visitor.Jar, _ = cookiejar.New(nil)
	resp, err := visitor.PostForm(d.ProxyURL()+"/api/cart/add", url.Values{"item": {"tea"}, "qty": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	jar, _ := cookiejar.New(nil)
	op := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	user, password := d.ConsoleLogin()
	if page := get(t, op, "POST", d.ConsoleURL()+"login", url.Values{"user": {user}, "password": {password}}); !strings.Contains(page, `id="nodes"`) {
		t.Fatalf("login with the demo's credentials:\n%s", page)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		page := get(t, op, "GET", d.ConsoleURL(), nil)
		list := get(t, op, "GET", d.ConsoleURL()+"sessions", nil)
		if strings.Contains(page, ">n1<") && strings.Contains(page, ">n2<") && strings.Count(list, `class="session"`) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console does not show nodes n1, n2 and one session within 20s:\n%s\n%s", page, list)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, hc *http.Client, method, u string, form url.Values) string {
	t.Helper()
	var resp *http.Response
	var err error
	if method == "POST" {
		resp, err = hc.PostForm(u, form)
	} else {
		resp, err = hc.Get(u)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d:\n%s", method, u, resp.StatusCode, b)
	}
	return string(b)
}
