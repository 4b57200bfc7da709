//go:build unix && !linux

package shm

import (
	"os"

	"golang.org/x/sys/unix"
)

// anonFD makes an unnamed object: a temporary file, unlinked at once, that lives as long as a
// descriptor or mapping of it does.
func anonFD(name string) (int, error) {
	f, err := os.CreateTemp("", name+"-*")
	if err != nil {
		return -1, err
	}
	os.Remove(f.Name())
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	if err != nil {
		return -1, os.NewSyscallError("fcntl", err)
	}
	return fd, nil
}
