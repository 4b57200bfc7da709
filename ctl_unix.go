//go:build unix

package mp

import (
	"io"
	"os"

	"github.com/mp-go/mp/internal/fdpass"
)

// fdReader reads a control socket, keeping the descriptors that arrive with its frames.
type fdReader interface {
	io.Reader
	Take(n int) ([]int, error)
	TakeAll() []int
}

func newFDReader(f *os.File) (fdReader, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return fdpass.NewReader(rc), nil
}

// writeWithFDs writes b to f, a Unix socket, with fds attached.
func writeWithFDs(f *os.File, b []byte, fds []int) error {
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
