//go:build linux || darwin

package mp

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The manager's transport, for now: a Unix stream socket, made with golang.org/x/sys/unix so
// that the root package does not import net. On Linux it lives in the abstract namespace (no
// file; the name is random), on macOS in a private 0700 temporary directory. Either way a peer
// must run as our uid (checked on accept) and present the manager's token (manager_server.go).

// managerListen creates the listening socket of a new manager and returns it with its address.
// cleanup removes what the address left on disk (darwin's directory); it is safe to call twice.
func managerListen() (ln *os.File, addr string, cleanup func(), err error) {
	var name [12]byte
	if _, err := rand.Read(name[:]); err != nil {
		return nil, "", nil, err
	}
	cleanup = func() {}
	if managerAbstract {
		addr = "@mp-manager-" + hex.EncodeToString(name[:])
	} else {
		dir, err := os.MkdirTemp("", "mp-manager-")
		if err != nil {
			return nil, "", nil, err
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, "", nil, err
		}
		addr = filepath.Join(dir, "s")
		cleanup = func() { os.RemoveAll(dir) }
	}
	fd, err := managerSocket()
	if err != nil {
		cleanup()
		return nil, "", nil, fmt.Errorf("manager socket: %w", err)
	}
	if err := unix.Bind(fd, managerSockaddr(addr)); err != nil {
		unix.Close(fd)
		cleanup()
		return nil, "", nil, fmt.Errorf("manager socket: bind %s: %w", addr, err)
	}
	if err := unix.Listen(fd, 1024); err != nil {
		unix.Close(fd)
		cleanup()
		return nil, "", nil, fmt.Errorf("manager socket: listen: %w", err)
	}
	// Non-blocking, so that the manager's accept goes through the poller and a Close of the
	// listener ends it; the flag belongs to the open file, so the server's copy has it too.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		cleanup()
		return nil, "", nil, err
	}
	return os.NewFile(uintptr(fd), "mp-manager-listener"), addr, cleanup, nil
}

func managerSockaddr(addr string) *unix.SockaddrUnix {
	if managerAbstract && len(addr) > 0 && addr[0] == '@' {
		return &unix.SockaddrUnix{Name: "\x00" + addr[1:]}
	}
	return &unix.SockaddrUnix{Name: addr}
}

// managerSocketFile wraps a connected stream socket; the descriptor is made non-blocking so that
// reads and writes go through the runtime's poller and honour deadlines.
func managerSocketFile(fd int, name string) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// managerDial connects to the manager at addr. It does not block on a listening socket (connect
// on a Unix stream socket completes at once or fails: ECONNREFUSED once the manager is gone).
func managerDial(addr string) (*os.File, error) {
	fd, err := managerSocket()
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, managerSockaddr(addr)); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return managerSocketFile(fd, "mp-manager-conn")
}

// managerAccept waits for the next connection on ln (non-blocking: see managerListen) and returns it with the peer's uid checked
// against ours: a peer of another user is closed at once, and the error says so.
func managerAccept(ln *os.File) (*os.File, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		nfd, aerr = managerAcceptFD(int(fd))
		return !errors.Is(aerr, unix.EAGAIN)
	})
	if err == nil {
		err = aerr
	}
	if err != nil {
		return nil, err
	}
	uid, err := managerPeerUID(nfd)
	if err != nil || uid != os.Getuid() {
		unix.Close(nfd)
		if err == nil {
			err = fmt.Errorf("%w: a process of uid %d connected to the manager (which serves uid %d only)", ErrProtocol, uid, os.Getuid())
		}
		return nil, errPeerRefused{err}
	}
	return managerSocketFile(nfd, "mp-manager-peer")
}
