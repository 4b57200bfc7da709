//go:build !linux && !darwin

package mp

import (
	"fmt"
	"os"
)

func managerWriteFDs(f *os.File, b []byte, fds []int) error {
	return fmt.Errorf("%w: passing descriptors to a manager's client needs Unix sockets", ErrNotSupported)
}

func newClientTransport(f *os.File) *sockTransport { return newSockTransport(f) }
