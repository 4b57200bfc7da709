package mp

import (
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/mp-go/mp/internal/shm"
)

// A pool worker and its parent share a small table of call slots, one word per call in flight,
// so that the parent knows exactly which of the calls it sent a worker has started, whatever the
// worker buffered or the parent has not read yet. This is what makes a dead worker fail exactly the
// call it was running, and lets the parent take back calls that wait behind a busy worker.
//
// A slot holds a call's ID and its state, packed as id<<2 | state:
//
//	sent     the parent wrote the call; the worker has not started it
//	running  the worker claimed it (a compare-and-swap from sent) and is running it
//	done     its function returned; its reply is being written
//
// The parent stores sent before it writes the call. The worker starts a call only by swapping
// sent for running, so the parent can take a call back (for another worker, or to cancel it) by
// swapping sent for zero: exactly one side wins. A call the worker finds taken back is skipped
// without a reply. A slot is free again once its call is answered or taken back; a stale call
// frame that names a slot given to a later call fails the swap, because the ID differs.
//
// When a worker dies, every reply it wrote is read first (they are in the pipe); then each call
// still unanswered is, by its slot: running — it fails with ErrWorkerDied; done — it ran, but its
// reply was lost (ErrResultLost); sent — it never started and goes to another worker.
const (
	slotSent    = 1
	slotRunning = 2
	slotDone    = 3

	// numSlots bounds the calls in flight on one worker; a window never exceeds it.
	numSlots = 64
	// slotsSize is the size of the page that holds the slots and the reply ring's words.
	slotsSize = 4096
	// workerShmSize is the size of a worker's shared segment: the slot page, then the reply ring
	// (replies.go). Only the pages touched cost memory.
	workerShmSize = slotsSize + ringSize
)

// slotTable is a worker's mapped shared segment: its call slots and its reply ring.
type slotTable struct {
	seg   *shm.Segment
	words *[numSlots]atomic.Uint64
	ring  replyRing
}

// newSlotTable makes a worker's shared segment; the worker maps its descriptor.
func newSlotTable() (*slotTable, error) {
	seg, err := shm.CreateAnon("mp-worker-slots", workerShmSize)
	if err != nil {
		return nil, fmt.Errorf("mp: making a worker's call slots: %w", err)
	}
	return newSlotView(seg), nil
}

// mapSlotTable maps the shared segment whose descriptor a worker inherited.
func mapSlotTable(fd int) (*slotTable, error) {
	seg, err := shm.Map(fd)
	if err != nil {
		return nil, err
	}
	if len(seg.Mem) != workerShmSize {
		seg.Close()
		return nil, fmt.Errorf("worker segment of %d bytes; want %d", len(seg.Mem), workerShmSize)
	}
	return newSlotView(seg), nil
}

func newSlotView(seg *shm.Segment) *slotTable {
	t := &slotTable{seg: seg, words: (*[numSlots]atomic.Uint64)(unsafe.Pointer(&seg.Mem[0]))}
	t.ring = replyRing{
		tail:     (*atomic.Uint64)(unsafe.Pointer(&seg.Mem[ringTailAt])),
		head:     (*atomic.Uint64)(unsafe.Pointer(&seg.Mem[ringHeadAt])),
		sleeping: (*atomic.Uint32)(unsafe.Pointer(&seg.Mem[ringSleepingAt])),
		data:     seg.Mem[slotsSize:],
	}
	return t
}

func slotWord(id uint64, state uint64) uint64 { return id<<2 | state }

// state returns the state of call id in slot i: slotSent, slotRunning, slotDone, or 0 when the
// slot holds another call or none.
func (t *slotTable) state(i int, id uint64) uint64 {
	v := t.words[i].Load()
	if v>>2 != id {
		return 0
	}
	return v & 3
}

// slotFree is a set of free slots, one bit each.
type slotFree uint64

const allSlotsFree = slotFree(1<<numSlots - 1)

// take removes and returns a free slot; the caller has checked that one is free.
func (f *slotFree) take() int {
	i := bits.TrailingZeros64(uint64(*f))
	*f &^= 1 << i
	return i
}

func (f *slotFree) put(i int) { *f |= 1 << i }
