package bench

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// AttachSum is what reading shared memory through a fresh mapping costs without mp: it makes a
// memfd (tmpfs, as /dev/shm) of size bytes, fills it with 0x01 bytes through one mapping, then
// n times maps it afresh (MAP_SHARED, read-only, no MAP_POPULATE) and sums it, each map and sum
// timed together (the unmap is not): shm_read's attach figure on the floor side. It returns the
// durations.
func AttachSum(n, size int) ([]time.Duration, error) {
	fd, err := unix.MemfdCreate("mp-bench-shm", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return nil, os.NewSyscallError("ftruncate", err)
	}
	w, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	fillOnes(w)
	unix.Munmap(w)
	want := uint64(size/8) * 0x0101010101010101
	out := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		r, err := unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return nil, os.NewSyscallError("mmap", err)
		}
		s := Sum64(r)
		d := time.Since(t0)
		unix.Munmap(r)
		if s != want {
			return nil, errSum(s, want)
		}
		out = append(out, d)
	}
	return out, nil
}
