//go:build unix

package sys

import (
	"os"
	"syscall"

	"github.com/mp-go/mp/internal/fdpass"
	"golang.org/x/sys/unix"
)

// MaxFDs is the most descriptors one message may carry.
const MaxFDs = fdpass.MaxFDs

// DupFD duplicates fd; the copy is close-on-exec.
func DupFD(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }

// CloseFD closes fd, ignoring the error: the callers close descriptors they own and can do
// nothing about a failure.
func CloseFD(fd int) { unix.Close(fd) }

// Socketpair returns the two ends of a new Unix stream socket pair, both close-on-exec. The flag
// is set under syscall.ForkLock, so that a child forked meanwhile by another goroutine does not
// inherit them. It is the one place mp makes a socket pair: for a child's control socket and for
// an mp.Conn.
func Socketpair() ([2]int, error) {
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return [2]int{-1, -1}, os.NewSyscallError("socketpair", err)
	}
	return fds, nil
}

// NewFDReader returns a reader of f, a Unix socket, that keeps the descriptors arriving with its
// bytes.
func NewFDReader(f *os.File) (FDReader, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return fdpass.NewReader(rc), nil
}

// WriteWithFDs writes b to f, a Unix socket, with fds attached to its first byte.
func WriteWithFDs(f *os.File, b []byte, fds []int) error {
	if len(fds) == 0 {
		_, err := f.Write(b)
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return fdpass.Write(rc, b, fds)
}
