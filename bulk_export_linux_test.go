package mp

import (
	"strconv"
	"syscall"
)

// readlinkFD names the object behind fd by its inode.
func readlinkFD(fd int) (string, error) {
	var st syscall.Stat_t
	err := syscall.Fstat(fd, &st)
	return strconv.FormatUint(st.Ino, 10), err
}

// pipeFDs makes a pipe.
func pipeFDs() ([2]int, error) {
	var p [2]int
	err := syscall.Pipe2(p[:], syscall.O_CLOEXEC)
	return p, err
}
