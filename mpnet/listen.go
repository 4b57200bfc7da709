package mpnet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/mp-go/mp"
)

// Listen listens on addr of network, as net.Listen does (names are resolved; an empty host is
// every address), and returns an mp.Listener whose connections speak Python's
// multiprocessing.connection protocol: mp.Listen's counterpart for what the mp package does not
// do itself (see mp.Listen, mp.Accept and the options there). On an address that is not
// loopback, mp.WithAuthKey is required, or mp.WithInsecureListen, or TLS: see ListenTLS.
func Listen(ctx context.Context, network, addr string, opts ...mp.ConnOption) (*mp.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("mpnet: %w", err)
	}
	return mp.NewListener(listener{ln}, opts...)
}

// ListenTLS is Listen with TLS: each connection's TLS handshake runs off the accept loop, within
// the handshake's time (mp.WithHandshakeTimeout), before the auth key's handshake, if any. config
// must hold a certificate (or GetCertificate); set its ClientAuth and ClientCAs to make clients
// prove who they are. TLS counts as the protection mp.Listen asks of an address that is not
// loopback: ListenTLS needs neither an auth key nor mp.WithInsecureListen.
func ListenTLS(ctx context.Context, network, addr string, config *tls.Config, opts ...mp.ConnOption) (*mp.Listener, error) {
	if config == nil || len(config.Certificates) == 0 && config.GetCertificate == nil && config.GetConfigForClient == nil {
		return nil, fmt.Errorf("%w: mpnet.ListenTLS: the tls.Config has no certificate", mp.ErrInvalidOption)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("mpnet: %w", err)
	}
	return mp.NewListener(listener{tls.NewListener(ln, config)}, append(opts[:len(opts):len(opts)], mp.WithInsecureListen())...)
}

// Dial connects to the listener at addr of network, as net.Dialer does (names are resolved), and
// returns the connection as an mp.Conn of T, running the client's side of the auth key's
// handshake if opts hold mp.WithAuthKey: mp.Dial's counterpart. ctx bounds the connect and the
// handshake.
func Dial[T any](ctx context.Context, network, addr string, opts ...mp.ConnOption) (*mp.Conn[T], error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("mpnet: %w", err)
	}
	return mp.NewClientConn[T](ctx, c, opts...)
}

// DialTLS is Dial with TLS (config may be nil: the system's roots, and the host of addr as the
// server's name). ctx bounds the connect and both handshakes.
func DialTLS[T any](ctx context.Context, network, addr string, config *tls.Config, opts ...mp.ConnOption) (*mp.Conn[T], error) {
	d := tls.Dialer{Config: config}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("mpnet: %w", err)
	}
	return mp.NewClientConn[T](ctx, c.(*tls.Conn), opts...)
}

// listener is an mp.StreamListener of a net.Listener.
type listener struct{ ln net.Listener }

func (l listener) Accept() (mp.Stream, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (l listener) Close() error { return l.ln.Close() }
func (l listener) Addr() string { return l.ln.Addr().String() }
