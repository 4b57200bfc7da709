package mpnet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/mp-go/mp"
)

// ConnectManager connects to the manager a program serves (mp.Manager.Serve) at addr of network,
// as net.Dialer does (names are resolved), running the client's side of the auth key's handshake
// if opts hold mp.WithAuthKey: mp.ConnectManager's counterpart. ctx bounds the connect and the
// handshake.
func ConnectManager(ctx context.Context, network, addr string, opts ...mp.ConnOption) (*mp.Manager, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("mpnet: %w", err)
	}
	return mp.NewManagerConn(ctx, c, network+" "+addr, opts...)
}

// ConnectManagerTLS is ConnectManager with TLS, to a manager served on a listener of ListenTLS
// (config may be nil: the system's roots, and the host of addr as the server's name). ctx bounds
// the connect and both handshakes. A process that decodes a proxy obtained on this connection
// connects with ConnectManagerTLS too, to the same address.
func ConnectManagerTLS(ctx context.Context, network, addr string, config *tls.Config, opts ...mp.ConnOption) (*mp.Manager, error) {
	if config == nil {
		config = &tls.Config{}
	}
	if config.ServerName == "" && !config.InsecureSkipVerify {
		// As tls.Dial does: the host of addr names the server.
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		config = config.Clone()
		config.ServerName = host
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("mpnet: %w", err)
	}
	// The TLS handshake runs in NewManagerConn, within the handshake's time: its failure is an
	// mp.ErrAuthentication error.
	return mp.NewManagerConn(ctx, tls.Client(c, config), network+" "+addr, opts...)
}
