//go:build unix

package mp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// checkBulkSize checks that fd is a segment (a regular file: a memfd, or the unlinked file of
// shm.CreateAnon) of exactly size bytes.
func checkBulkSize(fd, size int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("a bulk value's descriptor: fstat: %v", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != int64(size) {
		return fmt.Errorf("a bulk value of %d bytes in a segment of %d", size, st.Size)
	}
	return nil
}

// readBulk reads the segment fd, checked by checkBulkSize, into dst with pread: the kernel
// copies from the segment's pages, and nothing is mapped. It does not close fd.
func readBulk(fd int, dst []byte) error {
	for off := 0; off < len(dst); {
		n, err := unix.Pread(fd, dst[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("a bulk value's segment: pread: %v", err)
		}
		if n == 0 {
			return fmt.Errorf("a bulk value's segment ended at %d of %d bytes", off, len(dst))
		}
		off += n
	}
	return nil
}
