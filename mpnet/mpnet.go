// Package mpnet lets network connections and listeners travel to other processes in mp task
// arguments and over an mp.Conn, as Python's multiprocessing.reduction does for sockets.
//
// Import it for its side effect, in the program that passes them:
//
//	import _ "github.com/mp-go/mp/mpnet"
//
// Then a net.Conn, net.Listener or net.PacketConn — or a *net.TCPConn, *net.UnixConn,
// *net.UDPConn, *net.TCPListener, *net.UnixListener — in a struct field, slice element or
// argument reaches the child as a working connection or listener over the same socket (its
// descriptor travels by SCM_RIGHTS). The sender keeps its own and may close it at once: closing a
// connection in the parent does not close the child's. A listener handed to several children lets
// them all accept on it (the pre-fork server).
//
// The mp package itself does not import net: that would make every program using mp a
// dynamically linked binary (with cgo) and slow down every child's start. Without this package,
// passing a connection is an error that names it.
//
// Connections that have no descriptor of their own (a *tls.Conn, a net.Pipe) cannot be passed;
// pass the underlying connection and wrap it again in the child.
//
// The package also has the network side of mp.Listen and mp.Dial that needs package net: Listen
// and Dial resolve host names, ListenTLS and DialTLS run the same protocol over TLS. Their
// connections are the same *mp.Conn[T].
package mpnet

import (
	"net"
	"os"
	"reflect"

	"github.com/mp-go/mp/internal/handlekind"
)

var (
	connType     = reflect.TypeFor[net.Conn]()
	listenerType = reflect.TypeFor[net.Listener]()
	packetType   = reflect.TypeFor[net.PacketConn]()
)

func init() {
	handlekind.Register(&handlekind.Kind{
		Name:  "net.Listener",
		Match: func(t reflect.Type) bool { return t.Implements(listenerType) },
		Open: func(f *os.File) (any, error) {
			defer f.Close()
			return net.FileListener(f)
		},
	})
	handlekind.Register(&handlekind.Kind{
		Name:  "net.Conn",
		Match: func(t reflect.Type) bool { return t.Implements(connType) || t.Implements(packetType) },
		Open: func(f *os.File) (any, error) {
			defer f.Close()
			return net.FileConn(f)
		},
	})
}
