//go:build unix

package mp

import (
	"context"
	"errors"
	"fmt"

	"github.com/mp-go/mp/internal/sock"
)

// ConnectManager connects to the manager a program serves (Manager.Serve) at addr of network, and
// returns a Manager whose proxies work as the serving program's do: Python's
// BaseManager(address, authkey).connect(). network and addr are as for Dial ("tcp" with an IP
// address, "localhost" or an empty host, or "unix" with a path; package mpnet's ConnectManager
// resolves names, and ConnectManagerTLS speaks TLS). opts are Dial's: WithAuthKey, with the key
// the Listener has, WithHandshakeTimeout. ctx bounds the connect and the handshake only. A key
// mismatch, or a key on one side only, fails in one round trip with an error matching
// ErrAuthentication.
//
// Get the serving program's objects with Lookup; create new ones with NewDict and the others.
// Proxies obtained on the connection may be passed to other processes, children included: they
// carry no auth key, so a process that decodes one calls ConnectManager to the same address, with
// the key, before it uses it (a child that inherits no key is Python's behaviour too, for a
// manager whose key is not the process's own). Until then its calls fail with an error matching
// ErrAuthentication that says so.
//
// The connection is the process's connection to that manager, shared by its proxies; Close
// closes it (Shutdown is refused: only the serving program stops the manager). If the
// connection is lost, calls fail with ErrManagerDead; connect again for new proxies.
func ConnectManager(ctx context.Context, network, addr string, opts ...ConnOption) (*Manager, error) {
	a, err := sock.ParseAddr(network, addr)
	if err != nil {
		return nil, addrError("ConnectManager", err)
	}
	if _, err := newConnConfig("ConnectManager", false, opts); err != nil {
		return nil, err
	}
	f, err := sock.Dial(ctx, a)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, err
		}
		return nil, fmt.Errorf("mp: ConnectManager: %w", err)
	}
	return NewManagerConn(ctx, f, network+" "+a.String(), opts...)
}
