//go:build !linux

package shm

import "unsafe"

// CreateSealed makes a segment holding a copy of b. Without memfd seals (outside Linux) the
// segment is not frozen: receivers copy it out.
func CreateSealed(name string, b []byte) (*Segment, error) {
	s, err := CreateAnon(name, len(b))
	if err != nil {
		return nil, err
	}
	copy(s.Mem, b)
	return s, nil
}

// Frozen reports false: no segment is sealed outside Linux.
func Frozen(fd int) bool { return false }

// MapOver reports false: outside Linux a segment is read, never mapped over Go memory.
func MapOver(fd int, p unsafe.Pointer, n int) bool { return false }

// UnmapOver reports false; MapOver never maps anything outside Linux.
func UnmapOver(p unsafe.Pointer, n int) bool { return false }
