//go:build unix

package mp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mapBulk maps the segment fd read-only after checking that its real size is size. It does not
// close fd.
func mapBulk(fd, size int) (mem []byte, unmap func(), err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, nil, fmt.Errorf("a bulk value's descriptor: fstat: %v", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != int64(size) {
		return nil, nil, fmt.Errorf("a bulk value of %d bytes in a segment of %d", size, st.Size)
	}
	mem, err = unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("a bulk value's segment: mmap: %v", err)
	}
	return mem, func() { unix.Munmap(mem) }, nil
}
