package mp

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/mp-go/mp/internal/procid"
	"github.com/mp-go/mp/internal/shm"
	"github.com/mp-go/mp/internal/sys"
)

// shared is the process-local side of a synchronisation object in a shared memory segment of its
// own: a header naming the object's kind, then its words. Close marks it closed here and closes
// the descriptor; the mapping is released when the object is garbage (so that a goroutine still
// inside a method never touches unmapped memory: the words are a few bytes of a page, so keeping
// them mapped costs nothing worth a reference count on every Lock).
type shared struct {
	seg    *shm.Segment
	mem    []byte
	kind   uint32
	id     uint64 // this process's procid.ID, as recorded in the object's lock words
	closed atomic.Bool
}

const (
	sharedMagic = 0x3173706d // "mps1"

	kindMutex     = 1
	kindSemaphore = 2
	kindEvent     = 3
	kindCond      = 4
	kindBarrier   = 5
	kindValue     = 6
	kindArray     = 7
	kindShm       = 8

	offKind  = 4
	offWords = 128 // the object's words start here, on a cache line of their own

	// sharedMin is the smallest segment of an object: every object's fixed words fit in it.
	sharedMin = 4096
)

var kindNames = map[uint32]string{
	kindMutex: "*mp.Mutex", kindSemaphore: "*mp.Semaphore", kindEvent: "*mp.Event",
	kindCond: "*mp.Cond", kindBarrier: "*mp.Barrier", kindValue: "*mp.Value", kindArray: "*mp.Array",
	kindShm: "*mp.SharedMemory",
}

// ctorNames name the constructor of each kind, for the error of a nil or zero object.
var ctorNames = map[uint32]string{
	kindMutex: "mp.NewMutex", kindSemaphore: "mp.NewSemaphore", kindEvent: "mp.NewEvent",
	kindCond: "mp.NewCond", kindBarrier: "mp.NewBarrier", kindValue: "mp.NewValue", kindArray: "mp.NewArray",
	kindShm: "mp.CreateSharedMemory",
}

// newShared makes a zeroed segment of size bytes (at least a page) for an object of kind.
func newShared(kind uint32, size int) (*shared, error) {
	guardChild()
	seg, err := shm.CreateAnon("mp-sync", max(size, sharedMin))
	if err != nil {
		return nil, fmt.Errorf("mp: making a %s: %w", kindNames[kind], shmError(err))
	}
	s := &shared{seg: seg, mem: seg.Mem, kind: kind, id: uint64(procid.Self())}
	atomic.StoreUint32(s.word(offKind), kind)
	atomic.StoreUint32(s.word(0), sharedMagic)
	return s, nil
}

// adoptShared maps a received segment that must hold an object of kind. It owns fd. The segment
// may come from a process that lies: it must be at least as large as newShared makes every
// segment (sharedMin), so that no object's words lie past its end, and say it holds kind.
func adoptShared(fd int, meta string, kind uint32) (*shared, error) {
	if meta != kindNames[kind] {
		sys.CloseFD(fd)
		return nil, fmt.Errorf("a %q arrived where the receiver has a %s", meta, kindNames[kind])
	}
	seg, err := shm.Map(fd)
	if err != nil {
		return nil, shmError(err)
	}
	s := &shared{seg: seg, mem: seg.Mem, kind: kind, id: uint64(procid.Self())}
	if len(s.mem) < sharedMin || atomic.LoadUint32(s.word(0)) != sharedMagic || atomic.LoadUint32(s.word(offKind)) != kind {
		seg.Close()
		return nil, fmt.Errorf("the descriptor received for a %s does not hold one", kindNames[kind])
	}
	return s, nil
}

// track releases s's mapping once owner is garbage.
func track[T any](owner *T, s *shared) *T {
	runtime.AddCleanup(owner, func(seg *shm.Segment) { seg.Close() }, s.seg)
	return owner
}

func (s *shared) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&s.mem[off])) }

func (s *shared) word64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&s.mem[off])) }

// check returns an error wrapping ErrClosed for an object of kind that is nil or zero (s is nil)
// or closed in this process: the package's rule for misuse (see the package doc, "Handles").
func (s *shared) check(kind uint32) error {
	if s == nil {
		return zeroUse(kindNames[kind], ctorNames[kind])
	}
	if s.closed.Load() {
		return closedUse(kindNames[kind])
	}
	return nil
}

// zeroUse is the error of a method called on a nil or zero handle of type typ, made by ctor.
func zeroUse(typ, ctor string) error {
	return fmt.Errorf("%w: use of a nil or zero %s; make one with %s", ErrClosed, typ, ctor)
}

// closedUse is the error of a method called on a handle of type typ closed in this process.
func closedUse(typ string) error {
	return fmt.Errorf("%w: %s used after Close (Close releases this process's handle; keep it open while it is in use)", ErrClosed, typ)
}

func (s *shared) close() error {
	if s == nil || s.closed.Swap(true) {
		return nil
	}
	s.seg.CloseFD()
	return nil
}

func (s *shared) dup(kind uint32) (int, string, error) {
	if err := s.check(kind); err != nil {
		return -1, "", err
	}
	fd, err := s.seg.Dup()
	return fd, kindNames[s.kind], err
}

// syncHandle is embedded in each synchronisation object made over a shared segment (Mutex,
// Semaphore, Event, Cond, Barrier, Value, Array): it gives them the methods that are the same for
// all of them. What differs — Close's doc, handleAdopt, which needs the concrete constructor —
// stays with each type.
type syncHandle struct{ s *shared }

// handleDup implements handle: one descriptor, a duplicate of the segment's.
func (h *syncHandle) handleDup() ([]int, string, error) {
	if h.s == nil {
		return nil, "", zeroUse("mp synchronisation object", "its New function")
	}
	fd, meta, err := h.s.dup(h.s.kind)
	if err != nil {
		return nil, "", err
	}
	return []int{fd}, meta, nil
}

// MarshalCBOR refuses to encode the object with the cbor package: it is a handle, and handles
// travel only as descriptors — in a task argument, a Process argument or a Conn's Send — where
// mp never calls MarshalCBOR. It returns an ErrEncode error naming the type.
func (h *syncHandle) MarshalCBOR() ([]byte, error) {
	name := "mp synchronisation object"
	if h.s != nil {
		name = kindNames[h.s.kind]
	}
	return nil, refuseCBOR(name)
}

// refuseCBOR is the MarshalCBOR error of a handle of type typ.
func refuseCBOR(typ string) error {
	return fmt.Errorf("%w: a %s is a handle and travels only in a task argument, a Process argument or a Conn's Send", ErrEncode, typ)
}

// shmError makes an error of internal/shm match this package's sentinels: shm.ErrNotSupported
// becomes ErrNotSupported, so that errors.Is(err, mp.ErrNotSupported) holds at the boundary.
func shmError(err error) error {
	if errors.Is(err, shm.ErrNotSupported) {
		return fmt.Errorf("%w (shared memory segments)", ErrNotSupported)
	}
	return err
}

// mustOpen panics with err, the error of a method called on a nil, zero or closed handle, if it
// is not nil: the rule for the methods that have no error result.
func mustOpen(err error) {
	if err != nil {
		panic(err)
	}
}

// firstFD returns the one descriptor of a single-descriptor handle that arrived, closing any
// others (a message from a lying process may attach more). fds is never empty.
func firstFD(fds []int) int {
	closeFDs(fds[1:])
	return fds[0]
}
