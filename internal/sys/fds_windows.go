//go:build windows

package sys

import (
	"errors"
	"fmt"
	"os"
)

// MaxFDs is 0: Windows has no descriptor passing.
const MaxFDs = 0

// errNoFDs is the error of every descriptor operation: Windows has neither Unix descriptors to
// duplicate nor sockets that carry them.
var errNoFDs = fmt.Errorf("passing descriptors needs Unix sockets: %w", errors.ErrUnsupported)

// DupFD returns an error matching errors.ErrUnsupported.
func DupFD(fd int) (int, error) { return -1, errNoFDs }

// CloseFD does nothing: no descriptor is ever made on Windows.
func CloseFD(fd int) {}

// Socketpair returns an error matching errors.ErrUnsupported.
func Socketpair() ([2]int, error) {
	return [2]int{-1, -1}, fmt.Errorf("a socket pair (a child's control socket, an mp.Conn) needs Unix sockets: %w", errors.ErrUnsupported)
}

// NewFDReader returns an error matching errors.ErrUnsupported.
func NewFDReader(f *os.File) (FDReader, error) { return nil, errNoFDs }

// WriteWithFDs writes b to f; with descriptors attached it returns an error matching
// errors.ErrUnsupported.
func WriteWithFDs(f *os.File, b []byte, fds []int) error {
	if len(fds) > 0 {
		return errNoFDs
	}
	_, err := f.Write(b)
	return err
}
