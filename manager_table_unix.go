//go:build linux || darwin

package mp

import (
	"os"

	"github.com/mp-go/mp/internal/fdpass"
)

// managerWriteFDs writes b to the socket f with fds attached to its first byte.
func managerWriteFDs(f *os.File, b []byte, fds []int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return fdpass.Write(rc, b, fds)
}

// newClientTransport is the client's end of a manager connection: it reads with recvmsg, so that
// the descriptors of an attach reply (manager_table.go) are kept, not dropped by the kernel.
func newClientTransport(f *os.File) *sockTransport {
	t := newSockTransport(f)
	if rc, err := f.SyscallConn(); err == nil {
		r := fdpass.NewReader(rc)
		t.r, t.fdr = r, r
	}
	return t
}
