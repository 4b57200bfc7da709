//go:build linux || darwin

package mpnet_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnet"
)

// TLSManagerArg tells a child how to reach a manager served over TLS.
type TLSManagerArg struct {
	Addr string
	Cert []byte // the server's certificate (DER), which the child trusts
	Key  []byte // the auth key, if any
	TLS  bool   // false: connect without TLS
}

// ConnectTLSManager connects to the manager served at Addr and sets "child" in the published
// Dict to its pid; a proxy it passes to its own child works there after that child connects.
var ConnectTLSManager = mp.Register("mpnet_test.connect_tls_manager", func(ctx context.Context, a TLSManagerArg) (struct{}, error) {
	var opts []mp.ConnOption
	if a.Key != nil {
		opts = append(opts, mp.WithAuthKey(a.Key))
	}
	var m *mp.Manager
	var err error
	if a.TLS {
		cert, perr := x509.ParseCertificate(a.Cert)
		if perr != nil {
			return struct{}{}, perr
		}
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		m, err = mpnet.ConnectManagerTLS(ctx, "tcp", a.Addr, &tls.Config{RootCAs: pool, ServerName: "localhost"}, opts...)
	} else {
		m, err = mpnet.ConnectManager(ctx, "tcp", a.Addr, opts...)
	}
	if err != nil {
		return struct{}{}, err
	}
	defer m.Close()
	d, err := mp.Lookup[*mp.Dict[string, int]](ctx, m, "d")
	if err != nil {
		return struct{}{}, err
	}
	defer d.Close()
	return struct{}{}, d.Set(ctx, "child", os.Getpid())
})

// TestManagerServeTLS: a manager served over TLS (with and without an auth key) is reached by a
// program with ConnectManagerTLS; a program without TLS is refused, and so is one with TLS
// against a listener without it; mpnet's plain listener and ConnectManager resolve names.
func TestManagerServeTLS(t *testing.T) {
	ctx := tctx(t)
	srv, _ := tlsConfigs(t)
	m, err := mp.StartManager(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d, err := mp.NewDict[string, int](ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := m.Publish(ctx, "d", d); err != nil {
		t.Fatal(err)
	}
	serve := func(ln *mp.Listener) {
		sctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Serve(sctx, ln) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) && !errors.Is(err, mp.ErrClosed) {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	cert := srv.Certificates[0].Certificate[0]
	for _, key := range [][]byte{nil, key} {
		rej := make(chan error, 4)
		opts := []mp.ConnOption{mp.WithHandshakeErrorFunc(func(err error) { rej <- err }), mp.WithHandshakeTimeout(time.Second)}
		if key != nil {
			opts = append(opts, mp.WithAuthKey(key))
		}
		ln, err := mpnet.ListenTLS(ctx, "tcp", "127.0.0.1:0", srv, opts...)
		if err != nil {
			t.Fatal(err)
		}
		serve(ln)
		d.Delete(ctx, "child")
		p := mp.NewProcess(ConnectTLSManager, TLSManagerArg{Addr: ln.Addr(), Cert: cert, Key: key, TLS: true})
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(ctx); err != nil {
			t.Fatalf("key %q: the TLS client: %v", key, err)
		}
		if v, _, _ := d.Get(ctx, "child"); v != p.Pid() {
			t.Fatalf("key %q: child = %d; want the TLS client's pid %d", key, v, p.Pid())
		}
		// Without TLS: the listener drops it once its handshake's time is up, and says why.
		_, err = mp.Run(ctx, ConnectTLSManager, TLSManagerArg{Addr: ln.Addr(), Key: key})
		if !errors.Is(err, mp.ErrAuthentication) {
			t.Fatalf("key %q: a client without TLS: %v; want ErrAuthentication", key, err)
		}
		select {
		case err := <-rej:
			if !errors.Is(err, mp.ErrAuthentication) || !strings.Contains(err.Error(), "TLS") {
				t.Fatalf("the listener's error for a client without TLS: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("the listener reported nothing of a client without TLS")
		}
	}
	// mpnet's listener without TLS, by name: the relay runs on *net.TCPConn.
	ln, err := mpnet.Listen(ctx, "tcp", "localhost:0", mp.WithAuthKey(key))
	if err != nil {
		t.Fatal(err)
	}
	serve(ln)
	_, port, _ := net.SplitHostPort(ln.Addr())
	p := mp.NewProcess(ConnectTLSManager, TLSManagerArg{Addr: "localhost:" + port, Key: key})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("mpnet.ConnectManager to mpnet.Listen: %v", err)
	}
	if v, _, _ := d.Get(ctx, "child"); v != p.Pid() {
		t.Fatalf("child = %d; want %d", v, p.Pid())
	}
	// TLS against a listener without it fails at once, on its first record.
	ln, err = mp.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(ln)
	_, err = mp.Run(ctx, ConnectTLSManager, TLSManagerArg{Addr: ln.Addr(), Cert: cert, TLS: true})
	if !errors.Is(err, mp.ErrAuthentication) || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("a TLS client of a listener without TLS: %v", err)
	}
}
