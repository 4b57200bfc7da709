package mp

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mp-go/mp/internal/futex"
	"github.com/mp-go/mp/internal/lockword"
	"github.com/mp-go/mp/internal/procid"
	"github.com/mp-go/mp/internal/shm"
	"github.com/mp-go/mp/internal/sys"
)

// A queue is a ring of bytes in a shared memory segment, mapped by every process that holds the
// queue. Records are a 32-bit word — length, and a flag for values stored as their memory — then
// the payload; a record may wrap around the end of the ring.
//
// Producers take the producer lock, consumers the consumer lock, so one producer and one consumer
// never contend for a lock: they meet only on the tail and head words. Each of those packs a count
// (high half) and a byte offset (low half) into 64 bits, so that a put or a get commits with one
// atomic store: a process killed in the middle of either leaves the ring as it was before (the
// record was not there yet, or is still there). A process killed after a get's store and before
// the value reaches its caller takes that one value with it: that is all a killed consumer can
// lose.
//
// The locks are robust: the lock word (64 bits) holds the owner's pid and start time, and a
// waiter whose wait lasts longer than lockProbe checks whether the owner is alive and takes the
// lock over from a dead one (also when the dead owner's pid has been given to another process).
// Waiting for items or room is spin-then-sleep on a futex over the count half of the tail (or
// head) word; a sleeper raises a flag that the other side clears before waking it, so a side that
// nobody waits for makes no system call.

const (
	ringMagic   = 0x3171706d // "mpq1"
	ringVersion = 1

	offMagic    = 0
	offVersion  = 4
	offSize     = 8  // uint32: bytes in the ring, a power of two
	offCapacity = 12 // uint32: item limit, 0 for none
	offFlags    = 16 // uint32: flagJoinable
	offClosed   = 128
	offPLock    = 256
	offTail     = 384 // uint64: puts << 32 | tail offset
	offCWait    = 392 // uint32: consumers are asleep
	offPuts     = 400 // uint64: puts ever committed (see ring.counts), on the tail's cache line
	offCLock    = 512
	offHead     = 640 // uint64: gets << 32 | head offset
	offPWait    = 648 // uint32: producers are asleep
	offGets     = 656 // uint64: gets ever committed, on the head's cache line
	offDone     = 768 // uint32: TaskDone calls (JoinableQueue)
	offJWait    = 772 // uint32: joiners are asleep
	// 776 to 4096: the words of a JoinableQueue (joinable.go); then the ring's bytes.
	ringData = 4096

	flagJoinable = 1

	recRaw    = 1 << 31 // the record holds a value's memory, not its encoding
	recLenMax = recRaw - 1

	lockContended = 1 << 31

	// lockProbe is how long a wait lasts before the waiter looks again at what it waits for
	// (and, for a lock, whether its owner is alive). Wake-ups are not lost in practice; this
	// bounds the cost of the rare one that is (a Close racing a sleeper, say).
	lockProbe = 100 * time.Millisecond
	// spinFor is how long a side spins on an empty (or full) ring before sleeping: long enough
	// for a busy peer to deliver the next record, short enough not to matter when it is idle.
	spinFor = 20 * time.Microsecond

	minQueueBuffer     = 4 << 10
	maxQueueBuffer     = 1 << 30
	defaultQueueBuffer = 4 << 20
)

// hiOff is where the high half of a little- or big-endian uint64 lies.
var hiOff = func() uintptr {
	var x uint64 = 1
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return 4
	}
	return 0
}()

type ring struct {
	seg      *shm.Segment
	data     []byte
	size     uint32
	mask     uint32
	capacity uint32
	joinable bool

	closed, plock, clock, cwait, pwait, done, jwait *uint32
	tail, head                                      *uint64
	puts, gets                                      *uint64 // totals: see counts
	tailHi, headHi                                  *uint32

	held atomic.Pointer[uint32] // this process's count in the holders table (joinable.go)
	hold queueHold              // this process's handle: its calls in flight, and its Close (queue.go)
}

func newRing(size, capacity int, joinable bool) (*ring, error) {
	seg, err := shm.CreateAnon("mp-queue", ringData+size)
	if err != nil {
		return nil, err
	}
	m := seg.Mem
	binary.NativeEndian.PutUint32(m[offSize:], uint32(size))
	binary.NativeEndian.PutUint32(m[offCapacity:], uint32(capacity))
	if joinable {
		binary.NativeEndian.PutUint32(m[offFlags:], flagJoinable)
	}
	binary.NativeEndian.PutUint32(m[offVersion:], ringVersion)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&m[offMagic])), ringMagic)
	return attachRing(seg)
}

// attachRing checks the header of seg and returns the ring in it; it owns seg. The segment may
// come from another process, which may be lying: it is measured before its header is read, and
// the header must describe a ring that fills it exactly.
func attachRing(seg *shm.Segment) (*ring, error) {
	m := seg.Mem
	if len(m) < ringData+minQueueBuffer || len(m) > ringData+maxQueueBuffer {
		seg.Close()
		return nil, fmt.Errorf("%w: the descriptor received is not an mp queue (a segment of %d bytes)", ErrDecode, len(m))
	}
	u32 := func(off int) *uint32 { return (*uint32)(unsafe.Pointer(&m[off])) }
	size := binary.NativeEndian.Uint32(m[offSize:])
	if atomic.LoadUint32(u32(offMagic)) != ringMagic ||
		binary.NativeEndian.Uint32(m[offVersion:]) != ringVersion ||
		size == 0 || size&(size-1) != 0 || int(size) != len(m)-ringData {
		seg.Close()
		return nil, fmt.Errorf("%w: the descriptor received is not an mp queue of this version", ErrDecode)
	}
	r := &ring{
		seg:      seg,
		data:     m[ringData:],
		size:     size,
		mask:     size - 1,
		capacity: binary.NativeEndian.Uint32(m[offCapacity:]),
		joinable: binary.NativeEndian.Uint32(m[offFlags:])&flagJoinable != 0,
		closed:   u32(offClosed),
		plock:    u32(offPLock),
		clock:    u32(offCLock),
		cwait:    u32(offCWait),
		pwait:    u32(offPWait),
		done:     u32(offDone),
		jwait:    u32(offJWait),
		tail:     (*uint64)(unsafe.Pointer(&m[offTail])),
		head:     (*uint64)(unsafe.Pointer(&m[offHead])),
		puts:     (*uint64)(unsafe.Pointer(&m[offPuts])),
		gets:     (*uint64)(unsafe.Pointer(&m[offGets])),
		tailHi:   u32(offTail + int(hiOff)),
		headHi:   u32(offHead + int(hiOff)),
	}
	return r, nil
}

// release unmaps the ring and closes its descriptor, once: Queue.Close's last step, or the drop
// of a ring that was never handed out.
func (r *ring) release() { r.hold.once.Do(func() { r.seg.Close() }) }

// length is the number of records in the ring.
func (r *ring) length() int {
	h := atomic.LoadUint64(r.head)
	t := atomic.LoadUint64(r.tail)
	return int(uint32(t>>32) - uint32(h>>32))
}

// counts returns the number of puts and gets ever committed to the ring, by every process.
//
// The tail and head words hold the exact counts modulo 2^32; the 64-bit totals beside them are
// added to after each commit, under the lock, so they can lag by one for each process killed
// between its commit and the addition (and by one for a commit in progress). The count returned
// is the one that agrees with the exact low half and lies nearest the total: exact, as long as
// fewer than 2^31 processes died that way. It costs a commit one atomic addition on a cache line
// it has just written.
func (r *ring) counts() (puts, gets uint64) {
	// Totals first, then the words: a total never runs ahead of its word.
	pt, gt := atomic.LoadUint64(r.puts), atomic.LoadUint64(r.gets)
	t, h := atomic.LoadUint64(r.tail), atomic.LoadUint64(r.head)
	return nearest(pt, uint32(t>>32)), nearest(gt, uint32(h>>32))
}

// nearest returns the number congruent to low modulo 2^32 that lies nearest total.
func nearest(total uint64, low uint32) uint64 {
	return total + uint64(int64(int32(low-uint32(total))))
}

func (r *ring) isClosed() bool { return atomic.LoadUint32(r.closed) != 0 }

// wait sleeps while *addr == val, for at most lockProbe, or until ctx ends (lockword.Wait).
func wait(ctx context.Context, addr *uint32, val uint32) { lockword.Wait(ctx, addr, val) }

// spin waits up to spinFor for *addr to differ from val, and reports whether it did. It yields
// the CPU now and then, so that a peer sharing this CPU can make the change.
func spin(addr *uint32, val uint32) bool {
	var start time.Time
	for i := 0; ; i++ {
		if atomic.LoadUint32(addr) != val {
			return true
		}
		if i&63 == 63 {
			if start.IsZero() {
				start = time.Now()
			} else if time.Since(start) > spinFor {
				return false
			}
			sys.Yield()
		}
	}
}

// lock takes the lock word that starts at l (64 bits: see lockword.go), taking it over from a
// dead owner: the ring is consistent whatever point its owner died at (see above).
func (r *ring) lock(ctx context.Context, l *uint32) error {
	_, err := lockWord(ctx, lockAt(l), uint64(procid.Self()))
	return err
}

func (r *ring) unlock(l *uint32) { unlockWord(l) }

// wakeIf wakes every sleeper on addr if flag says there are any.
func wakeIf(flag, addr *uint32) {
	if atomic.LoadUint32(flag) != 0 && atomic.SwapUint32(flag, 0) != 0 {
		futex.Wake(addr, math.MaxInt32)
	}
}

// put appends one record holding payload. With try it never waits for room.
func (r *ring) put(ctx context.Context, payload []byte, raw, try bool) error {
	n := uint32(len(payload))
	if uint64(len(payload))+4 > uint64(r.size) || len(payload) > recLenMax {
		return fmt.Errorf("%w: an item of %d bytes does not fit in the queue's buffer of %d bytes; make the queue with mp.WithQueueBuffer", ErrTooLarge, len(payload), r.size)
	}
	need := n + 4
	for {
		if r.dropped() {
			return r.droppedError()
		}
		if err := r.lock(ctx, r.plock); err != nil {
			return err
		}
		if r.isClosed() {
			r.unlock(r.plock)
			return fmt.Errorf("%w: Put on a queue that was shut down", ErrClosed)
		}
		t := atomic.LoadUint64(r.tail)
		h := atomic.LoadUint64(r.head)
		puts, toff := uint32(t>>32), uint32(t)
		gets, hoff := uint32(h>>32), uint32(h)
		if r.size-(toff-hoff) >= need && (r.capacity == 0 || puts-gets < r.capacity) {
			word := n
			if raw {
				word |= recRaw
			}
			var hdr [4]byte
			binary.NativeEndian.PutUint32(hdr[:], word)
			r.write(toff, hdr[:])
			r.write(toff+4, payload)
			atomic.StoreUint64(r.tail, uint64(puts+1)<<32|uint64(toff+need))
			atomic.AddUint64(r.puts, 1)
			r.unlock(r.plock)
			wakeIf(r.cwait, r.tailHi)
			if r.joinable {
				wakeIf(r.jwait, r.done) // a joiner must now wait for one more
			}
			return nil
		}
		r.unlock(r.plock)
		if try {
			return ErrQueueFull
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !spin(r.headHi, gets) {
			atomic.StoreUint32(r.pwait, 1)
			if atomic.LoadUint32(r.headHi) == gets && !r.isClosed() {
				wait(ctx, r.headHi, gets)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func (r *ring) write(off uint32, b []byte) {
	at := off & r.mask
	k := copy(r.data[at:], b)
	if k < len(b) {
		copy(r.data, b[k:])
	}
}

func (r *ring) read(off uint32, b []byte) {
	at := off & r.mask
	k := copy(b, r.data[at:])
	if k < len(b) {
		copy(b[k:], r.data)
	}
}

// get removes the oldest record, copying its payload into the buffer that dst returns for its
// size and kind. With try it never waits for one.
func (r *ring) get(ctx context.Context, try bool, dst func(n int, raw bool) []byte) ([]byte, bool, error) {
	if r.joinable && r.held.Load() == nil {
		r.claimHolder() // outside the lock: it may look at every entry
	}
	for {
		if r.dropped() {
			return nil, false, r.droppedError()
		}
		if err := r.lock(ctx, r.clock); err != nil {
			return nil, false, err
		}
		closed := r.isClosed() // before the tail: a close comes after every put it lets through
		h := atomic.LoadUint64(r.head)
		t := atomic.LoadUint64(r.tail)
		gets, hoff := uint32(h>>32), uint32(h)
		puts := uint32(t >> 32)
		if puts != gets {
			var hdr [4]byte
			r.read(hoff, hdr[:])
			word := binary.NativeEndian.Uint32(hdr[:])
			n, raw := word&recLenMax, word&recRaw != 0
			if used := uint32(t) - hoff; used > r.size || n > used || used-n < 4 {
				// The shared memory says a record is longer than what was put: another
				// process wrote over it. Nothing is taken, nothing allocated.
				r.unlock(r.clock)
				return nil, false, fmt.Errorf("%w: the queue's shared memory is corrupt (a record of %d bytes where %d are in use); was it written by something other than mp?", ErrProtocol, n, used)
			}
			b := dst(int(n), raw)
			r.read(hoff+4, b)
			if r.joinable {
				// Before the value leaves the ring: a joiner never finds it in neither place.
				atomic.AddUint32(r.held.Load(), 1)
			}
			atomic.StoreUint64(r.head, uint64(gets+1)<<32|uint64(hoff+4+n))
			atomic.AddUint64(r.gets, 1)
			r.unlock(r.clock)
			wakeIf(r.pwait, r.headHi)
			return b, raw, nil
		}
		r.unlock(r.clock)
		if closed {
			return nil, false, fmt.Errorf("%w: the queue was shut down and is empty", ErrClosed)
		}
		if try {
			return nil, false, ErrQueueEmpty
		}
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		if !spin(r.tailHi, puts) {
			atomic.StoreUint32(r.cwait, 1)
			if atomic.LoadUint32(r.tailHi) == puts && !r.isClosed() {
				wait(ctx, r.tailHi, puts)
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
	}
}

// shutdown marks the ring closed for every process and wakes every sleeper (Queue.Shutdown).
func (r *ring) shutdown() {
	if r.isClosed() {
		return
	}
	// Under the producer lock, so that no put is half done: once closed is seen, every put
	// that will ever commit has.
	r.lock(context.Background(), r.plock)
	atomic.StoreUint32(r.closed, 1)
	r.unlock(r.plock)
	r.wakeAll()
}

// wakeAll wakes every sleeper on the ring, in every process.
func (r *ring) wakeAll() {
	futex.Wake(r.tailHi, math.MaxInt32)
	futex.Wake(r.headHi, math.MaxInt32)
	futex.Wake(r.done, math.MaxInt32)
}

// mapSegment maps a received segment descriptor, which it owns.
func mapSegment(fd int) (*shm.Segment, error) { return shm.Map(fd) }
