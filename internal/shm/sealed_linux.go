package shm

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sealsFrozen are the seals of a segment made by CreateSealed: its size and its bytes can no
// longer change, and no seal can be added or removed.
const sealsFrozen = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL

// CreateSealed makes a segment holding a copy of b (which must not be empty) that nobody can
// change afterwards: a memfd written with pwrite and then sealed against writing, shrinking and
// growing. Its mapping, Mem, is read-only. A receiver that finds the seals (Frozen) may map the
// segment into its own memory instead of copying it: its size cannot shrink under the mapping (a
// SIGBUS) and its bytes cannot change.
func CreateSealed(name string, b []byte) (*Segment, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("shm: an empty sealed segment")
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	fail := func(op string, err error) (*Segment, error) {
		unix.Close(fd)
		return nil, os.NewSyscallError(op, err)
	}
	if err := unix.Ftruncate(fd, int64(len(b))); err != nil {
		return fail("ftruncate", err)
	}
	for off := 0; off < len(b); {
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fail("pwrite", err)
		}
		off += n
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, sealsFrozen); err != nil {
		return fail("fcntl(F_ADD_SEALS)", err)
	}
	mem, err := unix.Mmap(fd, 0, len(b), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fail("mmap", err)
	}
	return &Segment{FD: fd, Mem: mem}, nil
}

// Frozen reports whether fd is a segment sealed as CreateSealed seals one.
func Frozen(fd int) bool {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	return err == nil && seals&sealsFrozen == sealsFrozen
}

// pageSize is the system's page size.
var pageSize = os.Getpagesize()

// MapOver maps the first n bytes of the frozen segment fd privately over the memory at p, which
// must be page-aligned and own at least n bytes rounded up to a page: reads of that memory then
// come from the segment's pages, shared with every other process mapping it, and a write makes a
// private copy of the page it touches (copy on write). It reports false, with the memory
// untouched, where that cannot be done (p not aligned; the mapping refused); the caller then
// reads the segment instead. Undo it with UnmapOver before the memory is used for anything else.
func MapOver(fd int, p unsafe.Pointer, n int) bool {
	if n <= 0 || uintptr(p)%uintptr(pageSize) != 0 {
		return false
	}
	return mmapFixed(p, n, fd, unix.MAP_PRIVATE|unix.MAP_FIXED)
}

// UnmapOver puts fresh zero-filled private memory back over the n bytes at p mapped by MapOver,
// releasing the segment's pages. It reports whether it could.
func UnmapOver(p unsafe.Pointer, n int) bool {
	return mmapFixed(p, n, -1, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
}

// mmapFixed maps n bytes (rounded up to a page) of fd, or anonymous memory, at p, readable and
// writable. It calls mmap itself: the address it returns is p, and making a pointer of it again
// (as unix.MmapPtr does) trips the race detector's pointer checks.
func mmapFixed(p unsafe.Pointer, n, fd, flags int) bool {
	r, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(p), uintptr(roundPage(n)), unix.PROT_READ|unix.PROT_WRITE, uintptr(flags), uintptr(fd), 0)
	return errno == 0 && r == uintptr(p)
}

func roundPage(n int) int { return (n + pageSize - 1) &^ (pageSize - 1) }
