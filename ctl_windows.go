//go:build windows

package mp

import (
	"io"
	"os"
)

type fdReader interface {
	io.Reader
	Take(n int) ([]int, error)
	TakeAll() []int
}

func newFDReader(f *os.File) (fdReader, error) { return nil, ErrNotSupported }

func writeWithFDs(f *os.File, b []byte, fds []int) error {
	if len(fds) > 0 {
		return ErrNotSupported
	}
	_, err := f.Write(b)
	return err
}
