//go:build unix

package sock

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// backlog is the length of a listening socket's queue of connections not yet accepted (the
// kernel caps it at somaxconn).
const backlog = 4096

// Listener is a listening stream socket. Accept may be called from one goroutine at a time with
// a ctx that can end (any number with one that cannot); Close may be called at any time, from
// any goroutine.
type Listener struct {
	f      *os.File
	rc     syscall.RawConn
	addr   Addr
	unlink bool // Close removes the socket's file
	once   sync.Once
	err    error
}

// Listen makes a socket listening on a, a Unix socket's path or a TCP address (port 0 picks a
// free port: Addr says which). A Unix socket's file is created, and removed again by Close; a
// file already at the path is an error (a socket left by a program that ended is not removed:
// the caller decides).
func Listen(a Addr) (*Listener, error) {
	sa, family := sockaddr(a)
	fd, err := socket(family)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if a.Network != "unix" {
		// As package net does: a restarted server can listen again at once on its port.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if a.Network == "tcp6" {
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		if err == unix.EADDRINUSE && a.Network == "unix" {
			return nil, fmt.Errorf("listen on %s: the path exists already (a socket left by a program that ended? remove it first): %w", a, err)
		}
		return nil, fmt.Errorf("listen on %s: %w", a, os.NewSyscallError("bind", err))
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		if a.Network == "unix" {
			os.Remove(a.Path)
		}
		return nil, fmt.Errorf("listen on %s: %w", a, os.NewSyscallError("listen", err))
	}
	if a.Network != "unix" {
		if bound, err := unix.Getsockname(fd); err == nil {
			a.IP = addrOf(bound, a.IP)
		}
	}
	f := os.NewFile(uintptr(fd), "mp-listener "+a.String())
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Listener{f: f, rc: rc, addr: a, unlink: a.Network == "unix"}, nil
}

// Addr returns the address l listens on; for TCP, with the port it was given.
func (l *Listener) Addr() Addr { return l.addr }

// Accept waits for the next connection and returns its socket, nonblocking and close-on-exec,
// with TCP_NODELAY set on TCP (as package net does). ctx bounds the wait; Close ends it with an
// error matching os.ErrClosed.
func (l *Listener) Accept(ctx context.Context) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	undo := Bound(ctx, l.f.SetReadDeadline)
	defer undo()
	nfd := -1
	var aerr error
	err := l.rc.Read(func(fd uintptr) bool {
		for {
			nfd, aerr = accept(int(fd))
			if aerr == unix.EINTR || aerr == unix.ECONNABORTED {
				continue
			}
			return aerr != unix.EAGAIN
		}
	})
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if aerr != nil {
		return nil, os.NewSyscallError("accept", aerr)
	}
	return newConn(nfd, l.addr.Network, "mp-accepted")
}

// Close closes the socket, ending a blocked Accept, and removes a Unix socket's file. It is
// idempotent.
func (l *Listener) Close() error {
	l.once.Do(func() {
		l.err = l.f.Close()
		if l.unlink {
			os.Remove(l.addr.Path)
		}
	})
	return l.err
}

// Dial connects to a and returns the socket, nonblocking and close-on-exec, with TCP_NODELAY set
// on TCP. ctx bounds the connect.
func Dial(ctx context.Context, a Addr) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sa, family := sockaddr(a)
	fd, err := socket(family)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	for {
		err = unix.Connect(fd, sa)
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil:
		return newConn(fd, a.Network, "mp-dialed")
	case unix.EINPROGRESS, unix.EALREADY:
	default:
		unix.Close(fd)
		return nil, fmt.Errorf("dial %s: %w", a, os.NewSyscallError("connect", err))
	}
	// A TCP connect under way: wait for the socket to be writable, then see how it went.
	f := os.NewFile(uintptr(fd), "mp-dialing")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	undo := Bound(ctx, f.SetWriteDeadline)
	var cerr error
	err = rc.Write(func(fd uintptr) bool {
		soerr, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			cerr = err
			return true
		}
		switch e := unix.Errno(soerr); e {
		case 0:
			if _, err := unix.Getpeername(int(fd)); err == unix.ENOTCONN {
				return false // not yet
			}
			return true
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		default:
			cerr = e
			return true
		}
	})
	undo()
	if err == nil && cerr != nil {
		err = os.NewSyscallError("connect", cerr)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("dial %s: %w", a, err)
	}
	if a.Network != "unix" {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	return f, nil
}

// newConn wraps a connected socket in a file.
func newConn(fd int, network, name string) (*os.File, error) {
	if network != "unix" {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func sockaddr(a Addr) (unix.Sockaddr, int) {
	if a.Network == "unix" {
		return &unix.SockaddrUnix{Name: a.Path}, unix.AF_UNIX
	}
	ip := a.IP.Addr()
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: int(a.IP.Port()), Addr: ip.As4()}, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: int(a.IP.Port()), Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		var id uint64
		fmt.Sscan(z, &id) // ParseAddr checked that it is a number
		sa.ZoneId = uint32(id)
	}
	return sa, unix.AF_INET6
}

// addrOf returns the port of a bound socket's address with the IP it was asked for.
func addrOf(sa unix.Sockaddr, asked netip.AddrPort) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(asked.Addr(), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(asked.Addr(), uint16(sa.Port))
	}
	return asked
}

// RemoteAddr returns the address of f's peer, as "ip:port", or "" for a Unix socket or when it
// is not known.
func RemoteAddr(f *os.File) string {
	rc, err := f.SyscallConn()
	if err != nil {
		return ""
	}
	var s string
	rc.Control(func(fd uintptr) {
		sa, err := unix.Getpeername(int(fd))
		if err != nil {
			return
		}
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			s = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
		case *unix.SockaddrInet6:
			s = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
		}
	})
	return s
}
