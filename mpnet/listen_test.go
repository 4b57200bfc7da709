//go:build unix

package mpnet_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnet"
)

var key = []byte("the mpnet tests' key")

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tlsConfigs returns a server's config with a self-signed certificate for 127.0.0.1 and
// localhost, and a client's config that trusts it.
func tlsConfigs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mpnet test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv}}},
		&tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// roundTrip accepts one connection on l, dials it with dial, and sends a value each way.
func roundTrip(t *testing.T, l *mp.Listener, dial func(ctx context.Context) (*mp.Conn[string], error)) {
	t.Helper()
	ctx := tctx(t)
	type result struct {
		c   *mp.Conn[string]
		err error
	}
	acc := make(chan result, 1)
	go func() { c, err := mp.Accept[string](ctx, l); acc <- result{c, err} }()
	c, err := dial(ctx)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	r := <-acc
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	defer r.c.Close()
	if err := c.Send(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	if v, err := r.c.Recv(ctx); err != nil || v != "hello" {
		t.Fatalf("Recv = %q, %v", v, err)
	}
	if ok, err := c.Poll(0); ok || err != nil {
		t.Fatalf("Poll(0) with nothing sent = %v, %v", ok, err)
	}
	if err := r.c.SendBytes(ctx, []byte(strings.Repeat("y", 200<<10))); err != nil {
		t.Fatal(err)
	}
	if b, err := c.RecvBytes(ctx); err != nil || len(b) != 200<<10 {
		t.Fatalf("RecvBytes: %d bytes, %v", len(b), err)
	}
}

// TestListenDialNames: mpnet resolves names, and gives the same Conn as mp.
func TestListenDialNames(t *testing.T) {
	l, err := mpnet.Listen(tctx(t), "tcp", "localhost:0", mp.WithAuthKey(key))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr())
	roundTrip(t, l, func(ctx context.Context) (*mp.Conn[string], error) {
		return mpnet.Dial[string](ctx, "tcp", "localhost:"+port, mp.WithAuthKey(key))
	})
	// And mp.Dial reaches it too, by IP.
	roundTrip(t, l, func(ctx context.Context) (*mp.Conn[string], error) {
		return mp.Dial[string](ctx, "tcp", l.Addr(), mp.WithAuthKey(key))
	})
}

// TestListenTLS: TLS on both sides, with and without an auth key; a client that does not speak
// TLS fails its handshake and does not block the listener.
func TestListenTLS(t *testing.T) {
	srv, cli := tlsConfigs(t)
	for _, opts := range [][]mp.ConnOption{nil, {mp.WithAuthKey(key)}} {
		rej := make(chan error, 4)
		opts := append(opts, mp.WithHandshakeErrorFunc(func(err error) { rej <- err }))
		// Every address: TLS is protection enough.
		l, err := mpnet.ListenTLS(tctx(t), "tcp", "0.0.0.0:0", srv, opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(l.Addr())
		roundTrip(t, l, func(ctx context.Context) (*mp.Conn[string], error) {
			return mpnet.DialTLS[string](ctx, "tcp", "127.0.0.1:"+port, cli, opts[:len(opts)-1]...)
		})
		plain, err := mp.Dial[string](tctx(t), "tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		plain.Send(tctx(t), "not TLS")
		select {
		case err := <-rej:
			if !errors.Is(err, mp.ErrAuthentication) || !strings.Contains(err.Error(), "TLS") {
				t.Fatalf("the listener's error for a plain client: %v", err)
			}
			plain.Close()
		case <-time.After(10 * time.Second):
			t.Fatal("the listener reported nothing of a plain client")
		}
		l.Close()
	}
	if _, err := mpnet.ListenTLS(tctx(t), "tcp", "127.0.0.1:0", &tls.Config{}); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("ListenTLS without a certificate: %v", err)
	}
}

// TestListenExposed: mpnet refuses every address without a key, as mp does.
func TestListenExposed(t *testing.T) {
	_, err := mpnet.Listen(tctx(t), "tcp", ":0")
	if !errors.Is(err, mp.ErrInvalidOption) || !strings.Contains(err.Error(), "WithInsecureListen") {
		t.Fatalf("mpnet.Listen on every address without a key: %v", err)
	}
}
