package shmtable

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Supported reports whether this platform has shared memory tables.
const Supported = true

// newFile makes the table's memory object: a memfd of size bytes that may grow but never shrink
// (F_SEAL_SHRINK), so that no process can cut the file under another's mapping of it.
func newFile(size int64) (int, error) {
	fd, err := unix.MemfdCreate("mp-table", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, os.NewSyscallError("memfd_create", err)
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("ftruncate", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl(F_ADD_SEALS)", err)
	}
	return fd, nil
}

// checkFile reports whether fd is a memory object sealed against shrinking, and its size.
func checkFile(fd int) (int64, error) {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return 0, fmt.Errorf("%w: descriptor %d is not a memfd (%v)", ErrNotTable, fd, err)
	}
	if seals&unix.F_SEAL_SHRINK == 0 {
		return 0, fmt.Errorf("%w: descriptor %d is a memfd not sealed against shrinking", ErrNotTable, fd)
	}
	return fileSize(fd)
}

// fileSize returns the size of the file fd.
func fileSize(fd int) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, os.NewSyscallError("fstat", err)
	}
	return st.Size, nil
}

// growFile makes the file fd size bytes long (it only ever grows).
func growFile(fd int, size int64) error {
	if err := unix.Ftruncate(fd, size); err != nil {
		return os.NewSyscallError("ftruncate", err)
	}
	return nil
}

// mapFile maps n bytes of fd, shared; the file may be shorter (it grows into the mapping).
func mapFile(fd int, n int) ([]byte, error) {
	mem, err := unix.Mmap(fd, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	return mem, nil
}

func unmap(mem []byte) error { return unix.Munmap(mem) }

func closeFD(fd int) { unix.Close(fd) }

func dupFD(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err)
	}
	return nfd, nil
}
