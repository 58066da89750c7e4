package natsengine_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine"
	"github.com/kilnhq/kiln/engine/natsengine"
	"github.com/kilnhq/kiln/internal/testutil"
)

// testPKI is a CA and the PEM files of a server and a client certificate
// it signed, in a temporary directory.
type testPKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := newCert(t, "kiln test CA", nil, nil, true)
	p := testPKI{CA: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.CA, "CERTIFICATE", caCert.Raw)
	p.ServerCert, p.ServerKey = issue(t, dir, "server", caKey, caCert)
	p.ClientCert, p.ClientKey = issue(t, dir, "client", caKey, caCert)
	return p
}

// issue writes a certificate for 127.0.0.1 signed by the CA, and its key.
func issue(t *testing.T, dir, name string, caKey *ecdsa.PrivateKey, ca *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	key, cert := newCert(t, name, caKey, ca, false)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", cert.Raw)
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "EC PRIVATE KEY", der)
	return certFile, keyFile
}

// newCert makes a key and a certificate, self-signed if parent is nil.
func newCert(t *testing.T, cn string, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, isCA bool) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStartServer_TLS: with VerifyClients only clients with a certificate
// of the CA get in, over TLS; in-process clients need none.
func TestStartServer_TLS(t *testing.T) {
	pki := newTestPKI(t)
	srv, err := natsengine.StartServer(natsengine.ServerOptions{
		Port: -1, StoreDir: t.TempDir(),
		TLS: natsengine.ServerTLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CA, VerifyClients: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if u := srv.ClientURL(); !strings.HasPrefix(u, "tls://") && !strings.HasPrefix(u, "nats://") {
		t.Fatalf("ClientURL() = %q", u)
	}
	e := MustOpenEngine(t, srv, natsengine.Options{URL: srv.ClientURL(), RootCAs: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey})
	if !e.Conn().TLSRequired() {
		t.Error("connection without TLS")
	}
	mustCommit(t, e, engine.Op{Key: "k", Value: []byte("v")})
	inproc := MustOpenEngine(t, srv, natsengine.Options{})
	if got, err := inproc.Get(context.Background(), "k"); err != nil || string(got.Value) != "v" {
		t.Errorf("in-process Get = %+v, %v", got, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := natsengine.Open(ctx, natsengine.Options{URL: srv.ClientURL(), RootCAs: pki.CA, Logger: quiet}); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("Open without client certificate: %v, want ErrUnavailable", err)
	}
}

func TestStartServer_BadOptions(t *testing.T) {
	pki := newTestPKI(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cluster := &natsengine.ClusterOptions{Port: -1}
	for name, tc := range map[string]struct {
		opts natsengine.ServerOptions
		want string // in the error
	}{
		"MissingCert":        {natsengine.ServerOptions{TLS: natsengine.ServerTLS{CertFile: missing, KeyFile: pki.ServerKey}}, missing},
		"MissingKey":         {natsengine.ServerOptions{TLS: natsengine.ServerTLS{CertFile: pki.ServerCert, KeyFile: missing}}, missing},
		"MissingCA":          {natsengine.ServerOptions{TLS: natsengine.ServerTLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: missing}}, missing},
		"KeyWithoutCert":     {natsengine.ServerOptions{TLS: natsengine.ServerTLS{KeyFile: pki.ServerKey}}, "CertFile"},
		"VerifyWithoutCA":    {natsengine.ServerOptions{TLS: natsengine.ServerTLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, VerifyClients: true}}, "CAFile"},
		"CertIsNotKey":       {natsengine.ServerOptions{TLS: natsengine.ServerTLS{CertFile: pki.ServerCert, KeyFile: pki.ServerCert}}, pki.ServerCert},
		"ClusterWithoutName": {natsengine.ServerOptions{Cluster: cluster}, "ServerName"},
		"ClusterDontListen":  {natsengine.ServerOptions{ServerName: "a", DontListen: true, Cluster: cluster}, "DontListen"},
		"ClusterBadRoute":    {natsengine.ServerOptions{ServerName: "a", Cluster: &natsengine.ClusterOptions{Routes: []string{"127.0.0.1:6222"}}}, "127.0.0.1:6222"},
		"NegativeMaxPayload": {natsengine.ServerOptions{MaxPayload: -1}, "MaxPayload"},
		"NegativeMaxStore":   {natsengine.ServerOptions{MaxStore: -1}, "MaxStore"},
		"NegativeMaxMemory":  {natsengine.ServerOptions{MaxMemory: -1}, "MaxMemory"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.opts.Port, tc.opts.StoreDir = -1, t.TempDir()
			srv, err := natsengine.StartServer(tc.opts)
			if err == nil {
				srv.Shutdown()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

// TestStartServer_Limits: MaxPayload reaches clients, which refuse larger
// values; a standalone server is ready at once.
func TestStartServer_Limits(t *testing.T) {
	srv, err := natsengine.StartServer(natsengine.ServerOptions{
		Port: -1, StoreDir: t.TempDir(), MaxPayload: 64 << 10, MaxStore: 1 << 30, MaxMemory: 64 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.WaitJetStreamReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Healthz(); err != nil {
		t.Fatalf("Healthz: %v", err)
	}
	e := MustOpenEngine(t, srv, natsengine.Options{})
	if got := e.Conn().MaxPayload(); got != 64<<10 {
		t.Errorf("MaxPayload = %d, want %d", got, 64<<10)
	}
	if _, err := e.Commit(ctx, engine.Op{Key: "big", Value: make([]byte, 64<<10)}); !errors.Is(err, engine.ErrTooLarge) {
		t.Errorf("commit over MaxPayload: %v, want ErrTooLarge", err)
	}
	srv.Shutdown()
	if err := srv.Healthz(); err == nil {
		t.Error("Healthz after Shutdown: nil")
	}
}

// TestCluster_TLS: with a CA, routes use mutual TLS, and the cluster
// forms and replicates.
func TestCluster_TLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	pki := newTestPKI(t)
	cluster := testutil.StartCluster(t, 3, func(_ int, o *natsengine.ServerOptions) {
		o.TLS = natsengine.ServerTLS{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CA, VerifyClients: true}
	})
	servers := cluster.Servers()
	for _, s := range servers {
		if s.NATS().NumRoutes() == 0 {
			t.Errorf("%s has no routes", s.NATS().Name())
		}
		if v, err := s.NATS().Varz(nil); err != nil || !v.Cluster.TLSRequired || !v.Cluster.TLSVerify {
			t.Errorf("%s: routes without mutual TLS (%v)", s.NATS().Name(), err)
		}
	}
	e := MustOpenEngine(t, nil, natsengine.Options{
		URL: strings.ReplaceAll(cluster.URLs(), "nats://", "tls://"), Replicas: 3, RootCAs: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey,
	})
	revs := mustCommit(t, e, sessionOps("tls")...)
	if got, err := e.Get(context.Background(), "s.tls.a.cart"); err != nil || got.Revision != revs[1] {
		t.Errorf("Get = %+v, %v", got, err)
	}
	streamLeader(t, e, "KV_kiln") // checks 3 replicas
}
