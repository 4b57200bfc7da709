package mp

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/mp-go/mp/internal/procid"
	"github.com/mp-go/mp/internal/shm"
)

// shared is the process-local side of a synchronisation object in a shared memory segment of its
// own: a header naming the object's kind, then its words. Close marks it closed here and closes
// the descriptor; the mapping is released when the object is garbage (so that a goroutine still
// inside a method never touches unmapped memory).
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

// newShared makes a zeroed segment of size bytes (at least a page) for an object of kind.
func newShared(kind uint32, size int) (*shared, error) {
	guardChild()
	seg, err := shm.CreateAnon("mp-sync", max(size, sharedMin))
	if err != nil {
		return nil, fmt.Errorf("mp: making a %s: %w", kindNames[kind], err)
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
		closeFD(fd)
		return nil, fmt.Errorf("a %q arrived where the receiver has a %s", meta, kindNames[kind])
	}
	seg, err := shm.Map(fd)
	if err != nil {
		return nil, err
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

// check returns ErrClosed for a nil object or one closed in this process.
func (s *shared) check() error {
	if s == nil {
		return fmt.Errorf("%w: use of a nil or zero mp synchronisation object; make one with its New function", ErrClosed)
	}
	if s.closed.Load() {
		return fmt.Errorf("%w: %s used after Close", ErrClosed, kindNames[s.kind])
	}
	return nil
}

// mustCheck panics with check's error: for methods that have no error result.
func (s *shared) mustCheck() {
	if err := s.check(); err != nil {
		panic(err)
	}
}

func (s *shared) close() error {
	if s == nil || s.closed.Swap(true) {
		return nil
	}
	s.seg.CloseFD()
	return nil
}

func (s *shared) dup() (int, string, error) {
	if err := s.check(); err != nil {
		return -1, "", err
	}
	fd, err := s.seg.Dup()
	return fd, kindNames[s.kind], err
}

// refuseCBOR is the MarshalCBOR error of a handle type outside a task argument or a Send.
func refuseCBOR(kind uint32) error {
	return fmt.Errorf("%w: a %s travels only in a task argument or a Conn's Send", ErrEncode, kindNames[kind])
}
