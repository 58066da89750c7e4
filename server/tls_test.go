package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnhq/kiln/engine/natsengine"
)

// pki is a CA with a server and a client certificate, as PEM files.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func mustPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := mustCert(t, nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "kiln test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	})
	p := pki{ca: writePEM(t, dir, "ca.pem", "CERTIFICATE", caCert.Raw)}
	srvKey, srvCert := mustCert(t, caKey, caCert, &x509.Certificate{
		Subject: pkix.Name{CommonName: "kiln"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.serverCert = writePEM(t, dir, "server.pem", "CERTIFICATE", srvCert.Raw)
	p.serverKey = writeKey(t, dir, "server-key.pem", srvKey)
	cliKey, cliCert := mustCert(t, caKey, caCert, &x509.Certificate{
		Subject: pkix.Name{CommonName: "web-node"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.clientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", cliCert.Raw)
	p.clientKey = writeKey(t, dir, "client-key.pem", cliKey)
	return p
}

// mustCert makes tmpl a certificate signed by parent (self-signed if nil).
func mustCert(t *testing.T, parentKey *ecdsa.PrivateKey, parent, tmpl *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
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

func writeKey(t *testing.T, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "EC PRIVATE KEY", der)
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRun_MutualTLS: with verify_clients as the only authentication the
// server gets ready (its own client is in-process), a web node with a
// client certificate connects, and one without is refused.
func TestRun_MutualTLS(t *testing.T) {
	p := mustPKI(t)
	cfg := testConfig(t)
	cfg.Auth.Token = ""
	cfg.TLS = TLSConfig{Cert: p.serverCert, Key: p.serverKey, CA: p.ca, VerifyClients: true}
	s := mustRun(t, cfg)
	if s.log.startAttr(t, "tls") != "on" || s.log.startAttr(t, "auth") != "mtls" {
		t.Errorf("start line tls %q, auth %q; want on, mtls", s.log.startAttr(t, "tls"), s.log.startAttr(t, "auth"))
	}
	open := func(o natsengine.Options) error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		o.URL, o.RootCAs, o.Logger = s.url, p.ca, slog.New(slog.DiscardHandler)
		eng, err := natsengine.Open(ctx, o)
		if err == nil {
			eng.Close()
		}
		return err
	}
	if err := open(natsengine.Options{CertFile: p.clientCert, KeyFile: p.clientKey}); err != nil {
		t.Errorf("Open with a client certificate: %v", err)
	}
	if err := open(natsengine.Options{}); err == nil {
		t.Error("Open without a client certificate succeeded; want it refused")
	}
}
