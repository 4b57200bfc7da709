// Package shm makes and maps shared memory segments that travel between processes as
// descriptors.
package shm

import "errors"

// ErrNotSupported is returned where the platform has no shared memory segments.
var ErrNotSupported = errors.New("shm: not supported on this platform")

// Segment is a mapping of a shared memory object, with the descriptor that names it.
type Segment struct {
	// FD is the descriptor of the memory object; pass a duplicate of it to share the segment.
	FD int
	// Mem is the mapping, of the object's whole size.
	Mem []byte
}
