package server

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// routePKI is a CA, a server certificate valid for routes (server and
// client authentication, 127.0.0.1) and a web node's client certificate,
// both signed by the CA.
type routePKI struct{ ca, routeCert, routeKey, nodeCert, nodeKey string }

func mustRoutePKI(t *testing.T) routePKI {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := mustCert(t, nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "kiln test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	})
	p := routePKI{ca: writePEM(t, dir, "ca.pem", "CERTIFICATE", caCert.Raw)}
	rKey, rCert := mustCert(t, caKey, caCert, &x509.Certificate{
		Subject: pkix.Name{CommonName: "kiln-route"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	p.routeCert, p.routeKey = writePEM(t, dir, "route.pem", "CERTIFICATE", rCert.Raw), writeKey(t, dir, "route-key.pem", rKey)
	nKey, nCert := mustCert(t, caKey, caCert, &x509.Certificate{
		Subject: pkix.Name{CommonName: "web-node"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	p.nodeCert, p.nodeKey = writePEM(t, dir, "node.pem", "CERTIFICATE", nCert.Raw), writeKey(t, dir, "node-key.pem", nKey)
	return p
}

// TestRoles_NodeCertificateCannotOpenRoute: with route TLS on a CA that
// also signs web nodes' certificates, and routes that log in, a server
// presenting a web node's certificate without the route login is
// refused; with the login, the same certificate routes (so the login,
// not TLS, is what refused it).
func TestRoles_NodeCertificateCannotOpenRoute(t *testing.T) {
	p := mustRoutePKI(t)
	ports := testutil.FreePorts(t, 3)
	cfg := roleConfig(t)
	cfg.Server.Name = "kiln-1"
	cfg.TLS = TLSConfig{Cert: p.routeCert, Key: p.routeKey, CA: p.ca, VerifyClients: true}
	cfg.Cluster = &ClusterConfig{Name: "kiln-test", Listen: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		Routes: []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[2])}, User: "route", Password: routePassword}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	opts, err := cfg.serverOptions(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, opts)
	nodeTLS := natsengine.ServerTLS{CertFile: p.nodeCert, KeyFile: p.nodeKey, CAFile: p.ca}
	toSrv := []string{fmt.Sprintf("nats://127.0.0.1:%d", ports[0])}

	rogue := startServer(t, natsengine.ServerOptions{Port: -1, StoreDir: t.TempDir(), ServerName: "rogue", TLS: nodeTLS,
		Cluster: &natsengine.ClusterOptions{Name: "kiln-test", Port: ports[1], Routes: toSrv}})
	waitLog(t, logs, `authentication error`)
	if n := srv.NATS().NumRoutes() + rogue.NATS().NumRoutes(); n != 0 {
		t.Fatalf("%d routes with a web node's certificate, want none", n)
	}
	rogue.Shutdown()

	withLogin := startServer(t, natsengine.ServerOptions{Port: -1, StoreDir: t.TempDir(), ServerName: "kiln-2", TLS: nodeTLS,
		Cluster: &natsengine.ClusterOptions{Name: "kiln-test", Port: ports[2], Routes: toSrv, User: "route", Password: routePassword}})
	deadline := time.Now().Add(10 * time.Second)
	for srv.NATS().NumRoutes() == 0 || withLogin.NATS().NumRoutes() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no route with the certificate and the route login:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond) // polling route counts; no event to wait on
	}
}
