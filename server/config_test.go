package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeConfig writes text to kiln.yaml in a temp dir and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kiln.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// touch creates an empty file in a temp dir and returns its path.
func touch(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadAndValidate is what `kiln server -c` does with a file.
func loadAndValidate(t *testing.T, text string) (string, error) {
	t.Helper()
	path := writeConfig(t, text)
	cfg, err := Load(path)
	if err == nil {
		err = cfg.Validate()
	}
	return path, err
}

func TestLoad_Example(t *testing.T) {
	cfg, err := Load("../kiln.example.yaml")
	if err != nil {
		t.Fatalf("Load(kiln.example.yaml): %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("kiln.example.yaml does not validate: %v", err)
	}
	want := DefaultConfig()
	cfg.origin = origin{}
	if !equalConfig(cfg, want) {
		t.Errorf("kiln.example.yaml = %+v; want the defaults %+v", cfg, want)
	}
}

func equalConfig(a, b Config) bool {
	return a.Server == b.Server && a.HTTP == b.HTTP && a.TLS == b.TLS && a.Sessions == b.Sessions &&
		a.Auth.Token == b.Auth.Token && len(a.Auth.Users) == len(b.Auth.Users) &&
		a.Auth.AllowUnauthenticated == b.Auth.AllowUnauthenticated && (a.Cluster == nil) == (b.Cluster == nil)
}

func TestDefaultConfig_Valid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	if cfg.replicas() != 1 || cfg.authMode() != "none" || cfg.tlsOn() {
		t.Errorf("DefaultConfig: replicas %d, auth %s, tls %v; want 1, none, false", cfg.replicas(), cfg.authMode(), cfg.tlsOn())
	}
}

func TestLoad_Values(t *testing.T) {
	cfg, err := Load(writeConfig(t, `
server: {name: kiln-2, listen: "127.0.0.1:0", data: /var/lib/kiln, sync: always, shutdown_timeout: 2m}
http: {listen: ""}
auth: {users: [{user: app, password: pw}]}
cluster: {name: c, routes: [nats://127.0.0.1:6223, nats://127.0.0.1:6224]}
sessions: {bucket: b, shards: 4, max_bytes: 10GiB, max_value_size: 64KiB}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := cfg.Server
	if s.Name != "kiln-2" || s.Data != "/var/lib/kiln" || s.Sync != SyncAlways || s.ShutdownTimeout.String() != "2m0s" {
		t.Errorf("server = %+v", s)
	}
	if cfg.HTTP.Listen != "" || cfg.authMode() != "users" || cfg.replicas() != 3 {
		t.Errorf("http %q, auth %s, replicas %d; want \"\", users, 3", cfg.HTTP.Listen, cfg.authMode(), cfg.replicas())
	}
	if got := cfg.Sessions; got.MaxBytes != 10*GiB || got.MaxValueSize != 64*KiB || got.Shards != 4 {
		t.Errorf("sessions = %+v", got)
	}
	if cfg.clusterListen() != defaultClusterListen {
		t.Errorf("cluster listen = %q, want the default %q", cfg.clusterListen(), defaultClusterListen)
	}
}

// TestConfig_Errors checks every rule: each bad file fails with a message
// that names the file, the line and the field.
func TestConfig_Errors(t *testing.T) {
	cert, key, ca := touch(t, "cert.pem"), touch(t, "key.pem"), touch(t, "ca.pem")
	tests := []struct {
		name string
		yaml string
		want string // after "<file>: "
	}{
		{"UnknownField", "http:\n  lisen: 1.2.3.4:80\n", "line 2: http.lisen: unknown field"},
		{"UnknownSection", "server: {}\nconsole: {}\n", "line 2: console: unknown field"},
		{"BadType", "server:\n  name: a\n  listen: [1]\n", "line 3: server.listen: want a string, got a list"},
		{"BadBool", "tls:\n  verify_clients: maybe\n", "line 2: tls.verify_clients: want true or false"},
		{"BadInt", "sessions:\n  shards: many\n", "line 2: sessions.shards: want an integer"},
		{"BadSize", "sessions:\n  max_value_size: 1XB\n", `line 2: sessions.max_value_size: size "1XB"`},
		{"BadDuration", "server:\n  shutdown_timeout: 10\n", `line 2: server.shutdown_timeout: duration "10"`},
		{"Syntax", "server:\n  name: [\n", "line 2: did not find expected node content"},
		{"BadSync", "server:\n  sync: sometimes\n", `line 2: server.sync: "sometimes": want "periodic" or "always"`},
		{"BadListen", "server:\n  listen: localhost\n", `line 2: server.listen: "localhost": want host:port`},
		{"BadPort", "server:\n  listen: 127.0.0.1:99999\n", `line 2: server.listen: "127.0.0.1:99999": port "99999"`},
		{"BadHTTPListen", "http:\n  listen: nope\n", `line 2: http.listen: "nope": want host:port`},
		{"MissingCert", "tls:\n  cert: x.pem\n  key: " + key + "\n", `line 2: tls.cert: file "x.pem" not found`},
		{"MissingKey", "tls:\n  cert: " + cert + "\n  key: nokey.pem\n", `line 3: tls.key: file "nokey.pem" not found`},
		{"MissingCA", "tls:\n  cert: " + cert + "\n  key: " + key + "\n  ca: noca.pem\n", `line 4: tls.ca: file "noca.pem" not found`},
		{"CertWithoutKey", "tls:\n  cert: " + cert + "\n", "line 2: tls.cert: needs tls.key"},
		{"KeyWithoutCert", "tls:\n  key: " + key + "\n", "line 2: tls.key: needs tls.cert"},
		{"CAWithoutCert", "tls:\n  ca: " + ca + "\n", "line 2: tls.ca: needs tls.cert and tls.key"},
		{"VerifyWithoutCA", "tls:\n  cert: " + cert + "\n  key: " + key + "\n  verify_clients: true\n", "line 4: tls.verify_clients: needs tls.ca"},
		{"OpenWithoutAuth", "server:\n  listen: 0.0.0.0:4222\n", "line 2: server.listen: \"0.0.0.0:4222\" listens beyond loopback without authentication"},
		{"AllInterfacesWithoutAuth", "server:\n  listen: :4222\n", "line 2: server.listen: \":4222\" listens beyond loopback"},
		{"HostNameWithoutAuth", "server:\n  listen: kiln.internal:4222\n", "line 2: server.listen: \"kiln.internal:4222\" listens beyond loopback"},
		{"TokenAndUsers", "auth:\n  token: t\n  users: [{user: a, password: b}]\n", "line 3: auth.users: set auth.token or auth.users, not both"},
		{"TwoUsersWithoutRole", "auth:\n  users:\n  - {user: a, password: b}\n  - {user: c, password: d, role: node}\n", `line 3: auth.users[0].role: required with more than one user`},
		{"BadRole", "auth:\n  users:\n  - {user: a, password: b, role: root}\n", `line 3: auth.users[0].role: "root": want "node", "admin" or "viewer"`},
		{"SameUserTwice", "auth:\n  users:\n  - {user: a, password: b, role: node}\n  - {user: a, password: c, role: admin}\n", `line 4: auth.users[1].user: "a": listed twice`},
		{"ReservedUser", "auth:\n  users:\n  - {user: _kiln_server, password: b}\n", `auth.users[0].user: "_kiln_server": names starting with "_kiln" are kiln's own`},
		{"TwoPasswordSources", "auth:\n  users:\n  - {user: a, password: b, password_env: X}\n", "auth.users[0].password: set one of auth.users[0].password, auth.users[0].password_file and auth.users[0].password_env"},
		{"PasswordFileMissing", "auth:\n  users:\n  - {user: a, password_file: /nonexistent/pw}\n", "auth.users[0].password_file: open /nonexistent/pw"},
		{"PasswordEnvUnset", "auth:\n  users:\n  - {user: a, password_env: KILN_TEST_UNSET_PASSWORD}\n", "auth.users[0].password_env: environment variable KILN_TEST_UNSET_PASSWORD is empty or unset"},
		{"BadNKey", "auth:\n  users:\n  - {user: a, nkey: SUAB, role: node}\n", "auth.users[0].nkey: not an NKey user public key"},
		{"NKeyAndPassword", "auth:\n  users:\n  - {user: a, nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4, password: p}\n", "auth.users[0].nkey: set a password or an nkey, not both"},
		{"RoutePasswordWithoutUser", "server: {name: a}\ncluster:\n  name: c\n  routes: [nats://127.0.0.1:6223]\n  password: p\n", "cluster.user: required with cluster.password"},
		{"RouteUserWithoutPassword", "server: {name: a}\ncluster:\n  name: c\n  routes: [nats://127.0.0.1:6223]\n  user: r\n", "cluster.password: required"},
		{"UserWithoutPassword", "auth:\n  users:\n  - user: a\n", "line 3: auth.users[0].password: required"},
		{"UserWithoutName", "auth:\n  users:\n  - password: a\n", "line 3: auth.users[0].user: required"},
		{"ClusterWithoutName", "server: {name: a}\ncluster:\n  routes: [nats://127.0.0.1:6223]\n", "line 2: cluster.name: required"},
		{"ClusterWithoutRoutes", "server: {name: a}\ncluster:\n  name: c\n", "line 2: cluster.routes: required"},
		{"ClusterWithoutServerName", "cluster:\n  name: c\n  routes: [nats://127.0.0.1:6223]\n", "kiln.yaml: server.name: required in a cluster"},
		{"BadRoute", "server: {name: a}\ncluster:\n  name: c\n  routes: [127.0.0.1:6223]\n", `line 4: cluster.routes[0]: "127.0.0.1:6223": want nats://host:port`},
		{"ClusterBeyondLoopback", "server: {name: a}\ncluster:\n  name: c\n  listen: 0.0.0.0:6222\n  routes: [nats://10.0.0.2:6222]\n", "line 4: cluster.listen: \"0.0.0.0:6222\" listens beyond loopback without route authentication"},
		{"Replicas2", "sessions:\n  replicas: 2\n", "line 2: sessions.replicas: 2: want 0 (automatic), 1 or 3"},
		{"Replicas3WithoutCluster", "sessions:\n  replicas: 3\n", "line 2: sessions.replicas: 3 replicas need a cluster"},
		{"Shards0", "sessions:\n  shards: 0\n", "line 2: sessions.shards: 0: want 1..64"},
		{"Shards65", "sessions:\n  shards: 65\n", "line 2: sessions.shards: 65: want 1..64"},
		{"BadBucket", "sessions:\n  bucket: a.b\n", `line 2: sessions.bucket: "a.b"`},
		{"HugeValue", "sessions:\n  max_value_size: 65MiB\n", "line 2: sessions.max_value_size: 65MiB: want 1B..64MiB"},
		{"ZeroValue", "sessions:\n  max_value_size: 0\n", "line 2: sessions.max_value_size: 0B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := loadAndValidate(t, tt.yaml)
			if err == nil {
				t.Fatalf("no error for\n%s\nwant %q", tt.yaml, tt.want)
			}
			if want := path + ": " + tt.want; !strings.Contains(err.Error(), want) && !strings.Contains(err.Error(), tt.want) ||
				!strings.HasPrefix(err.Error(), path) {
				t.Errorf("error %q\nwant it to start with the file and contain %q", err, tt.want)
			}
		})
	}
}

func TestConfig_Allowed(t *testing.T) {
	cert, key, ca := touch(t, "cert.pem"), touch(t, "key.pem"), touch(t, "ca.pem")
	pwFile := filepath.Join(t.TempDir(), "ops.pw")
	if err := os.WriteFile(pwFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KILN_TEST_VIEWER_PASSWORD", "from-the-env")
	tests := []struct{ name, yaml string }{
		{"OpenWithToken", "server:\n  listen: 0.0.0.0:4222\nauth:\n  token: s3cret\n"},
		{"OpenWithUser", "server:\n  listen: 0.0.0.0:4222\nauth:\n  users: [{user: a, password: b}]\n"},
		{"OpenWithMTLS", "server:\n  listen: 0.0.0.0:4222\ntls: {cert: " + cert + ", key: " + key + ", ca: " + ca + ", verify_clients: true}\n"},
		{"OpenExplicitly", "server:\n  listen: 0.0.0.0:4222\nauth:\n  allow_unauthenticated: true\n"},
		{"Localhost", "server:\n  listen: localhost:4222\n"},
		{"IPv6Loopback", "server:\n  listen: \"[::1]:4222\"\n"},
		{"HTTPBeyondLoopback", "http:\n  listen: 0.0.0.0:8222\n"},
		{"ClusterBeyondLoopbackExplicitly", "server: {name: a}\ncluster: {name: c, listen: 0.0.0.0:6222, routes: [nats://10.0.0.2:6222], allow_unauthenticated: true}\n"},
		{"ClusterBeyondLoopbackWithRouteTLS", "server: {name: a}\ncluster: {name: c, listen: 0.0.0.0:6222, routes: [nats://10.0.0.2:6222]}\ntls: {cert: " + cert + ", key: " + key + ", ca: " + ca + "}\n"},
		{"ClusterBeyondLoopbackWithRouteUser", "server: {name: a}\ncluster: {name: c, listen: 0.0.0.0:6222, routes: [nats://10.0.0.2:6222], user: route, password: p}\n"},
		{"Roles", "server:\n  listen: 0.0.0.0:4222\nauth:\n  users:\n  - {user: web, password: a, role: node}\n  - {user: ops, password_file: " + pwFile + ", role: admin}\n  - {user: ro, password_env: KILN_TEST_VIEWER_PASSWORD, role: viewer}\n"},
		{"Replicas3InCluster", "server: {name: a}\ncluster: {name: c, routes: [nats://127.0.0.1:6223]}\nsessions: {replicas: 3}\n"},
		{"Empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := loadAndValidate(t, tt.yaml); err != nil {
				t.Errorf("error %v for\n%s", err, tt.yaml)
			}
		})
	}
}

func TestLoad_MissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("Load(missing) = %v; want an error naming the file", err)
	}
}

// TestConfig_Replicas: with a cluster section, 0 means 3 however many
// routes a server lists (servers of one cluster may list 1, 2 or 3), so
// they all want the same count.
func TestConfig_Replicas(t *testing.T) {
	tests := []struct {
		routes, replicas, want int
	}{{0, 0, 1}, {1, 0, 3}, {2, 0, 3}, {3, 0, 3}, {2, 1, 1}, {1, 3, 3}}
	for _, tt := range tests {
		cfg := DefaultConfig()
		if tt.routes > 0 {
			cfg.Cluster = &ClusterConfig{Name: "c", Routes: make([]string, tt.routes)}
		}
		cfg.Sessions.Replicas = tt.replicas
		if got := cfg.replicas(); got != tt.want {
			t.Errorf("%d routes, replicas %d: %d; want %d", tt.routes, tt.replicas, got, tt.want)
		}
	}
}
