package mp

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/mp-go/mp/internal/shm"
	"github.com/mp-go/mp/internal/sys"
)

// SharedMemory is a block of memory shared by processes: Python's
// multiprocessing.shared_memory.SharedMemory. Make one with CreateSharedMemory — anonymous (name
// "") or named — and reach it from another process either as a handle in a task argument (both
// kinds) or, for a named one, with OpenSharedMemory.
//
// Ownership is explicit, to avoid Python's resource-tracker bug (which unlinks a segment when any
// process that merely opened it exits): nothing ever unlinks a named segment but Unlink or
// RemoveSharedMemory. Its creator should Unlink it when done; a segment left by a program that
// crashed first can be found with LeakedSharedMemory. An anonymous segment goes away with the last
// process that maps it.
//
// Named segments are files in /dev/shm on Linux (in a directory under os.TempDir elsewhere).
//
// A SharedMemory is safe for concurrent use by goroutines and processes in the sense that its
// methods are; what the bytes hold is the caller's to guard (with a Mutex, say). It is a handle
// (see the package doc): pass it to a child in a task or Process argument, or over a Conn (not on
// a Queue), and the child maps the same memory. The bytes are plain memory, read at memory speed
// once mapped: a child summing a 256 MiB segment it opened reads it at about 3 GB/s the first time
// and 4.5 GB/s after on a 2-core Linux VM (shm_read in bench/compare), as fast as a bare mmap.
// Making one costs a memory file and a mapping.
type SharedMemory struct {
	seg     *shm.Segment
	name    string
	created bool
	closed  atomic.Bool
}

// CreateSharedMemory makes a zero-filled segment of size bytes. With a name, it fails with an
// error matching fs.ErrExist if a segment of that name exists; "" makes an anonymous segment.
func CreateSharedMemory(name string, size int) (*SharedMemory, error) {
	guardChild()
	if size <= 0 || size > 1<<40 {
		return nil, fmt.Errorf("%w: shared memory size %d; it must be positive", ErrInvalidOption, size)
	}
	if name == "" {
		seg, err := shm.CreateAnon("mp-shm", size)
		if err != nil {
			return nil, fmt.Errorf("mp: CreateSharedMemory: %w", shmError(err))
		}
		if len(seg.Mem) != size {
			seg.Mem = seg.Mem[:size]
		}
		return newSharedMemory(seg, "", true), nil
	}
	name, err := shmName(name)
	if err != nil {
		return nil, err
	}
	seg, err := createNamed(name, size)
	if err != nil {
		return nil, fmt.Errorf("mp: CreateSharedMemory(%q): %w", name, err)
	}
	return newSharedMemory(seg, name, true), nil
}

// OpenSharedMemory maps the named segment. size 0 accepts its size as it is; a positive size must
// match it. A segment that does not exist is an error matching fs.ErrNotExist. Opening never
// makes this process responsible for unlinking.
func OpenSharedMemory(name string, size int) (*SharedMemory, error) {
	guardChild()
	if size < 0 {
		return nil, fmt.Errorf("%w: shared memory size %d", ErrInvalidOption, size)
	}
	name, err := shmName(name)
	if err != nil {
		return nil, err
	}
	seg, err := openNamed(name)
	if err != nil {
		return nil, fmt.Errorf("mp: OpenSharedMemory(%q): %w", name, err)
	}
	if size > 0 && len(seg.Mem) != size {
		seg.Close()
		return nil, fmt.Errorf("%w: OpenSharedMemory(%q, %d): the segment has %d bytes", ErrInvalidOption, name, size, len(seg.Mem))
	}
	return newSharedMemory(seg, name, false), nil
}

func newSharedMemory(seg *shm.Segment, name string, created bool) *SharedMemory {
	m := &SharedMemory{seg: seg, name: name, created: created}
	// Bytes hands out the mapping itself, which the collector cannot see: a slice of it may be in
	// use long after m is garbage. So only the descriptor goes with m; the mapping stays until
	// Close.
	runtime.AddCleanup(m, (*shm.Segment).CloseFD, seg)
	return m
}

// shmName checks a segment name: POSIX style, an optional leading "/" and no other.
func shmName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	switch {
	case n == "" || n == "." || n == "..":
		return "", fmt.Errorf("%w: shared memory name %q; give a non-empty name (or \"\" to CreateSharedMemory for an anonymous segment)", ErrInvalidOption, name)
	case len(n) > 200 || strings.ContainsAny(n, "/\x00") || strings.HasPrefix(n, ownerPrefix):
		return "", fmt.Errorf("%w: shared memory name %q: at most 200 bytes, no \"/\" but a leading one, no NUL, not starting with %q", ErrInvalidOption, name, ownerPrefix)
	}
	return n, nil
}

// Bytes returns the segment's memory. It stays valid until Close, even if m itself is no longer
// referenced (a segment dropped without Close stays mapped until the process exits); it must not be
// used after Close, which unmaps it.
func (m *SharedMemory) Bytes() []byte {
	mustOpen(m.check())
	return m.seg.Mem
}

// Size returns the segment's size in bytes.
func (m *SharedMemory) Size() int {
	mustOpen(m.check())
	return len(m.seg.Mem)
}

// Name returns the segment's name, "" for an anonymous one.
func (m *SharedMemory) Name() string {
	mustOpen(m.check())
	return m.name
}

// Close unmaps the segment from this process, now, and closes its descriptor; it stays for the
// others (and, if named, until unlinked). Close is idempotent, and does nothing on a nil
// SharedMemory.
func (m *SharedMemory) Close() error {
	if m == nil || m.seg == nil || m.closed.Swap(true) {
		return nil
	}
	return m.seg.Close()
}

// Unlink removes the segment's name, so that nobody can open it again; the memory goes once
// every process has closed it. Its creator should call it (Close does not), before or after
// Close: it is the one method that works after Close, since it acts on the name, not on this
// process's mapping. It does nothing for an anonymous segment; on a nil or zero SharedMemory it
// returns an error wrapping ErrClosed.
func (m *SharedMemory) Unlink() error {
	if m == nil || m.seg == nil {
		return zeroUse(kindNames[kindShm], ctorNames[kindShm])
	}
	if m.name == "" {
		return nil
	}
	return RemoveSharedMemory(m.name)
}

// check returns the error of a method called on m when m is nil, zero or closed.
func (m *SharedMemory) check() error {
	switch {
	case m == nil || m.seg == nil:
		return zeroUse(kindNames[kindShm], ctorNames[kindShm])
	case m.closed.Load():
		return closedUse(kindNames[kindShm])
	}
	return nil
}

// handleDup implements handle: one descriptor, with the segment's name.
func (m *SharedMemory) handleDup() ([]int, string, error) {
	if err := m.check(); err != nil {
		return nil, "", err
	}
	fd, err := m.seg.Dup()
	if err != nil {
		return nil, "", err
	}
	return []int{fd}, kindNames[kindShm] + "\x00" + m.name, nil
}

func (*SharedMemory) handleAdopt(fds []int, meta string) (any, error) {
	fd := firstFD(fds)
	kind, name, _ := strings.Cut(meta, "\x00")
	if kind != kindNames[kindShm] {
		sys.CloseFD(fd)
		return nil, fmt.Errorf("a %s arrived where the receiver has a *mp.SharedMemory", kind)
	}
	seg, err := shm.Map(fd)
	if err != nil {
		return nil, shmError(err)
	}
	return newSharedMemory(seg, name, false), nil
}

// MarshalCBOR refuses to encode a SharedMemory with the cbor package: it is a handle, and handles
// travel only as descriptors, in a task argument, a Process argument or a Conn's Send.
func (m *SharedMemory) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindNames[kindShm]) }
