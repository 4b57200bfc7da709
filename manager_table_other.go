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

func newDeathPipe() (*[2]int, error) {
	return nil, fmt.Errorf("%w: a manager's death pipe needs Unix", ErrNotSupported)
}

func watchDeath(fd int) *os.File { return os.NewFile(uintptr(fd), "mp-manager-death") }
