//go:build unix

package shm

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// CreateAnon makes a new zero-filled anonymous segment of size bytes and maps it. name shows in
// /proc/<pid>/maps where the platform allows.
func CreateAnon(name string, size int) (*Segment, error) {
	if size <= 0 {
		return nil, fmt.Errorf("shm: size %d; it must be positive", size)
	}
	fd, err := anonFD(name)
	if err != nil {
		return nil, err
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("ftruncate", err)
	}
	return Map(fd)
}

// Map maps the whole of the memory object fd, which it owns from then on (also on error).
func Map(fd int) (*Segment, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fstat", err)
	}
	if st.Size <= 0 || st.Size > 1<<40 {
		unix.Close(fd)
		return nil, fmt.Errorf("shm: descriptor %d has size %d, not a segment", fd, st.Size)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("mmap", err)
	}
	adviseHuge(mem)
	return &Segment{FD: fd, Mem: mem}, nil
}

// Close unmaps the segment and closes its descriptor. The memory must not be used afterwards.
func (s *Segment) Close() error {
	err := unix.Munmap(s.Mem)
	s.CloseFD()
	s.Mem = nil
	return err
}

// Dup returns a new close-on-exec descriptor of the segment's object.
func (s *Segment) Dup() (int, error) {
	if s.FD < 0 {
		return -1, unix.EBADF
	}
	return unix.FcntlInt(uintptr(s.FD), unix.F_DUPFD_CLOEXEC, 0)
}

// CloseFD closes the segment's descriptor and keeps the mapping.
func (s *Segment) CloseFD() {
	if s.FD >= 0 {
		unix.Close(s.FD)
		s.FD = -1
	}
}
