//go:build unix

package mp

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mp-go/mp/internal/sock"
)

// Listen listens on addr of network and returns a Listener that accepts connections from
// Dial (or from Python's multiprocessing.connection.Client): Python's Listener(address,
// authkey=...). network is "unix", with addr a path (the socket's file is created, and removed by
// Close), or "tcp", "tcp4" or "tcp6", with addr "host:port" where host is an IP address, or
// "localhost" or empty, both meaning loopback (127.0.0.1, or ::1 on "tcp6"; unlike package net,
// an empty host is not every address), and port 0 picks a free port (Addr says which). A host
// name is an error: mp resolves no names (package mpnet's Listen does). Listen fails at once with
// ctx's error if ctx has ended (making the socket does not wait); Close the Listener when done.
//
// On an address that is not loopback, an auth key (WithAuthKey) is required, or
// WithInsecureListen. A bad address or option is an ErrInvalidOption error.
func Listen(ctx context.Context, network, addr string, opts ...ConnOption) (*Listener, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := sock.ParseAddr(network, addr)
	if err != nil {
		return nil, addrError("Listen", err)
	}
	cfg, err := newConnConfig("Listen", true, opts)
	if err == nil {
		err = checkExposed(a.String(), cfg)
	}
	if err != nil {
		return nil, err
	}
	sl, err := sock.Listen(a)
	if err != nil {
		return nil, fmt.Errorf("mp: %w", err)
	}
	return NewListener(sockListener{sl}, opts...)
}

// Dial connects to the Listener at addr of network (as for Listen; a host must be an IP address,
// "localhost" or empty) and returns the connection as a Conn of T: Python's
// multiprocessing.connection.Client(address, authkey=...). ctx bounds the connect and the
// handshake; WithHandshakeTimeout bounds the handshake too. Another key fails with an error
// matching ErrAuthentication, on both sides. So does a key on one side only: with a key, Dial
// waits for the listener's challenge for the handshake's time at most (a keyless listener sends
// none); without one, the first Recv reports the listener's challenge (a message starting
// "#CHALLENGE#") as an ErrAuthentication error and closes the Conn.
func Dial[T any](ctx context.Context, network, addr string, opts ...ConnOption) (*Conn[T], error) {
	a, err := sock.ParseAddr(network, addr)
	if err != nil {
		return nil, addrError("Dial", err)
	}
	if _, err := newConnConfig("Dial", false, opts); err != nil {
		return nil, err
	}
	f, err := sock.Dial(ctx, a)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, err
		}
		return nil, fmt.Errorf("mp: %w", err)
	}
	return newClientConn[T](ctx, f, network+" "+a.String(), "Dial", opts)
}

func addrError(what string, err error) error {
	if errors.Is(err, sock.ErrNotIP) {
		return fmt.Errorf("%w: %s: %v: mp does not resolve names; give an IP address, or use mpnet.%s, which does", ErrInvalidOption, what, err, what)
	}
	return fmt.Errorf("%w: %s: %v", ErrInvalidOption, what, err)
}

// sockListener is a StreamListener of an internal/sock listener.
type sockListener struct{ l *sock.Listener }

func (s sockListener) Accept() (Stream, error) {
	f, err := s.l.Accept(context.Background())
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s sockListener) Close() error { return s.l.Close() }
func (s sockListener) Addr() string { return s.l.Addr().String() }

// peerOf names the peer of s, when it is a TCP socket of this package: " from 127.0.0.1:50000".
func peerOf(s Stream) string {
	if f, ok := s.(*os.File); ok {
		if p := sock.RemoteAddr(f); p != "" {
			return " from " + p
		}
	}
	return ""
}
