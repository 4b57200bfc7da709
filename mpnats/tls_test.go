//go:build unix

package mpnats_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mpnats test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, roots
}

// On a routable address with TLS and credentials the server starts; an agent connects over TLS
// with the agents' credentials and runs the head's tasks; a client without credentials is refused.
func TestStartRoutableWithTLS(t *testing.T) {
	ctx := ctxT(t)
	cert, roots := selfSigned(t)
	head := mpnats.Credentials{User: "head", Password: "head-password-0123456789"}
	agentCr := mpnats.Credentials{User: "agent", Password: "agent-password-0123456789"}
	c, err := mpnats.Start(ctx, mpnats.WithListen("0.0.0.0:0"), mpnats.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}), mpnats.WithAuth(head, agentCr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(c.URL(), "tls://"))
	url := "tls://127.0.0.1:" + port
	client := &tls.Config{RootCAs: roots}
	if _, err := mpnats.Connect(ctx, url, mpnats.WithTLS(client)); err == nil {
		t.Fatal("a client without credentials was let in")
	}
	ag, err := mpnats.Connect(ctx, url, mpnats.WithTLS(client), mpnats.WithUser(agentCr))
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	p, err := mpnats.NewPool(ctx, c, "tls")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	actx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- mpnats.Serve(actx, ag, mpnats.WithSlots(1)) }()
	defer func() { stop(); <-served }()
	if v, err := mp.Apply(ctx, p, Square, 12); err != nil || v != 144 {
		t.Fatalf("Apply over TLS: %d, %v", v, err)
	}
}
