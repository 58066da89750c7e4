package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/testutil"
)

// serverSpec is one kiln server's configuration file.
type serverSpec struct {
	name     string
	port     int    // client port
	httpPort int    // /healthz and /readyz
	data     string // data directory
	token    string // "" : no auth
	replicas int    // sessions.replicas; 0: the server's default
	cluster  *clusterSpec
}

// clusterSpec is a server's place in a cluster.
type clusterSpec struct {
	port   int   // route port
	routes []int // route ports of the others
}

// newServerSpec is a single server on fresh loopback ports.
func newServerSpec(t *testing.T, name string) serverSpec {
	ports := testutil.FreePorts(t, 2)
	return serverSpec{name: name, port: ports[0], httpPort: ports[1], data: filepath.Join(t.TempDir(), "data")}
}

// yaml is the spec as kiln.yaml.
func (s serverSpec) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  name: %s\n  listen: 127.0.0.1:%d\n  data: %s\n", s.name, s.port, s.data)
	fmt.Fprintf(&b, "http:\n  listen: 127.0.0.1:%d\n", s.httpPort)
	if s.token != "" {
		fmt.Fprintf(&b, "auth:\n  token: %q\n", s.token)
	}
	if c := s.cluster; c != nil {
		fmt.Fprintf(&b, "cluster:\n  name: kiln-e2e\n  listen: 127.0.0.1:%d\n  routes:\n", c.port)
		for _, r := range c.routes {
			fmt.Fprintf(&b, "    - nats://127.0.0.1:%d\n", r)
		}
	}
	if s.replicas != 0 {
		fmt.Fprintf(&b, "sessions:\n  replicas: %d\n", s.replicas)
	}
	return b.String()
}

// kilnServer is a running `kiln server`.
type kilnServer struct {
	*proc
	spec serverSpec
	url  string // from its ready line
}

// readyPrefix starts the line kiln server prints once it serves clients.
const readyPrefix = "kiln server ready: "

// startKiln starts a kiln server with spec and waits until it is ready.
func startKiln(t *testing.T, spec serverSpec) *kilnServer {
	t.Helper()
	s := launchKiln(t, spec)
	s.waitReady(t)
	return s
}

// launchKiln starts a kiln server with spec without waiting for it.
func launchKiln(t *testing.T, spec serverSpec) *kilnServer {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), spec.name+".yaml")
	if err := os.WriteFile(cfg, []byte(spec.yaml()), 0o600); err != nil {
		t.Fatal(err)
	}
	return &kilnServer{proc: start(t, spec.name, bins.kiln, nil, "server", "-c", cfg), spec: spec}
}

// waitReady waits for the server's ready line.
func (s *kilnServer) waitReady(t *testing.T) {
	t.Helper()
	s.url = s.waitLine(t, readyPrefix, startTimeout)
	if !strings.HasPrefix(s.url, "nats://") {
		t.Fatalf("%s: ready line names %q, want a nats:// URL", s.name, s.url)
	}
}

// healthz is the status of GET /healthz, or an error.
func (s *kilnServer) healthz() (int, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", s.spec.httpPort))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// cartNode is a running cart binary.
type cartNode struct {
	*proc
	node string
	url  string // http://127.0.0.1:PORT
}

// startCart starts a cart node against engine (comma-separated URLs) and
// waits until it listens.
func startCart(t *testing.T, node, engine string, args ...string) *cartNode {
	t.Helper()
	c := launchCart(t, node, engine, args...)
	c.url = c.waitLine(t, "listening on ", startTimeout)
	return c
}

// launchCart starts a cart node without waiting for it.
func launchCart(t *testing.T, node, engine string, args ...string) *cartNode {
	t.Helper()
	args = append([]string{"-node", node, "-addr", "127.0.0.1:0", "-engine", engine, "-connect-timeout", "1m"}, args...)
	// The carts must not pick up a developer's secrets.
	env := []string{"KILN_TOKEN=", "KILN_PASSWORD="}
	return &cartNode{proc: start(t, "cart-"+node, bins.cart, env, args...), node: node}
}

// cartView is the cart app's JSON answer.
type cartView struct {
	Node    string         `json:"node"`
	Session string         `json:"session"`
	Items   map[string]int `json:"items"`
	Counter int            `json:"counter"`
	Error   string         `json:"error"`
}

// call sends a request to the cart app and decodes its JSON answer. A
// status other than 200 is returned with a nil error.
func call(hc *http.Client, method, u string, form url.Values) (v cartView, status int, node string, err error) {
	var resp *http.Response
	if method == http.MethodPost {
		resp, err = hc.PostForm(u, form)
	} else {
		resp, err = hc.Get(u)
	}
	if err != nil {
		return v, 0, "", err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil && resp.StatusCode == http.StatusOK {
		return v, resp.StatusCode, "", fmt.Errorf("%s %s: decode: %w", method, u, err)
	}
	return v, resp.StatusCode, resp.Header.Get("X-Kiln-Node"), nil
}

// getCart is GET /api/cart, which must answer 200.
func getCart(hc *http.Client, base string) (cartView, string, error) {
	v, status, node, err := call(hc, http.MethodGet, base+"/api/cart", nil)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("GET %s/api/cart: status %d: %s", base, status, v.Error)
	}
	return v, node, err
}

// addItem is POST /api/cart/add, which must answer 200.
func addItem(hc *http.Client, base, item string, qty int) (cartView, string, error) {
	form := url.Values{"item": {item}, "qty": {fmt.Sprint(qty)}}
	v, status, node, err := call(hc, http.MethodPost, base+"/api/cart/add", form)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("POST %s/api/cart/add: status %d: %s", base, status, v.Error)
	}
	return v, node, err
}
