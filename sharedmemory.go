package mp

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/mp-go/mp/internal/shm"
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
			return nil, fmt.Errorf("mp: CreateSharedMemory: %w", err)
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
// used after Close.
func (m *SharedMemory) Bytes() []byte {
	if m == nil || m.closed.Load() {
		return nil
	}
	return m.seg.Mem
}

// Size returns the segment's size in bytes.
func (m *SharedMemory) Size() int {
	if m == nil {
		return 0
	}
	return len(m.seg.Mem)
}

// Name returns the segment's name, "" for an anonymous one.
func (m *SharedMemory) Name() string { return m.name }

// Close unmaps the segment from this process; it stays for the others (and, if named, until
// unlinked). Close is idempotent.
func (m *SharedMemory) Close() error {
	if m == nil || m.closed.Swap(true) {
		return nil
	}
	return m.seg.Close()
}

// Unlink removes the segment's name, so that nobody can open it again; the memory goes once
// every process has closed it. Its creator should call it (Close does not). It does nothing for
// an anonymous segment.
func (m *SharedMemory) Unlink() error {
	if m == nil || m.name == "" {
		return nil
	}
	return RemoveSharedMemory(m.name)
}

func (m *SharedMemory) handleDup() (int, string, error) {
	if m == nil || m.closed.Load() {
		return -1, "", fmt.Errorf("%w: a closed *mp.SharedMemory", ErrClosed)
	}
	fd, err := m.seg.Dup()
	return fd, kindNames[kindShm] + "\x00" + m.name, err
}

func (*SharedMemory) handleAdopt(fd int, meta string) (any, error) {
	kind, name, _ := strings.Cut(meta, "\x00")
	if kind != kindNames[kindShm] {
		closeFD(fd)
		return nil, fmt.Errorf("a %s arrived where the receiver has a *mp.SharedMemory", kind)
	}
	seg, err := shm.Map(fd)
	if err != nil {
		return nil, err
	}
	return newSharedMemory(seg, name, false), nil
}

// MarshalCBOR refuses to encode a SharedMemory outside a task argument or a Conn's Send.
func (m *SharedMemory) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindShm) }
