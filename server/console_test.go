package server

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// consoleConfig has an admin, a viewer and a node user.
func consoleConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.Auth.Token = ""
	cfg.Server.Name = "kiln-a"
	cfg.Auth.Users = []User{
		{User: "ops", Password: "ops-pw-1", Role: RoleAdmin},
		{User: "eve", Password: "eve-pw-2", Role: RoleViewer},
		{User: "web", Password: "web-pw-3", Role: RoleNode},
	}
	return cfg
}

func postLogin(t *testing.T, base, user, password string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.PostForm(base+"/console/login", url.Values{"user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConsole_Served: kiln server serves the console on its HTTP
// listener to its admin and viewer users, with its NATS server and the
// session bucket's stream on the cluster page; a node user may not log in.
func TestConsole_Served(t *testing.T) {
	s := mustRun(t, consoleConfig(t))
	status, page := postLogin(t, s.http, "ops", "ops-pw-1")
	if status != http.StatusOK || !strings.Contains(page, "kiln-a") || !strings.Contains(page, "KV_kiln") {
		t.Fatalf("admin login: status %d; want the cluster page with server kiln-a and stream KV_kiln:\n%s\n%s", status, page, s.log.String())
	}
	if status, _ := postLogin(t, s.http, "eve", "eve-pw-2"); status != http.StatusOK {
		t.Fatalf("viewer login: status %d", status)
	}
	if status, _ := postLogin(t, s.http, "web", "web-pw-3"); status != http.StatusUnauthorized {
		t.Fatalf("node user login: status %d, want 401", status)
	}
	if log := s.log.String(); strings.Contains(log, "ops-pw-1") || !strings.Contains(log, "/console/") {
		t.Fatalf("the log shows a password, or not the console's URL:\n%s", log)
	}
}

// TestConsole_NoUsersNoConsole: without an admin or viewer user there is
// no console, whatever the listener.
func TestConsole_NoUsersNoConsole(t *testing.T) {
	s := mustRun(t, testConfig(t)) // token auth: no users
	resp, err := http.Get(s.http + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /console/ without console users: status %d, want 404", resp.StatusCode)
	}
	if !strings.Contains(s.log.String(), `"console":"off (auth.users has no user with role admin or viewer`) {
		t.Fatalf("the log does not say why there is no console:\n%s", s.log.String())
	}
}
