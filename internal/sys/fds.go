package sys

import "io"

// FDReader reads a control socket, keeping the descriptors that arrive with its bytes until the
// reader of the frames claims them.
type FDReader interface {
	io.Reader
	// Take returns the first n descriptors received and not yet taken.
	Take(n int) ([]int, error)
	// TakeAll returns every descriptor received and not yet taken.
	TakeAll() []int
}
