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
	// slotsSize is the size of the slot table's segment: one page.
	slotsSize = 4096
)

// slotTable is a mapped slot table.
type slotTable struct {
	seg   *shm.Segment
	words *[numSlots]atomic.Uint64
}

// newSlotTable makes the segment of a worker's slot table; the worker maps its descriptor.
func newSlotTable() (*slotTable, error) {
	seg, err := shm.CreateAnon("mp-worker-slots", slotsSize)
	if err != nil {
		return nil, fmt.Errorf("mp: making a worker's call slots: %w", err)
	}
	return &slotTable{seg: seg, words: (*[numSlots]atomic.Uint64)(unsafe.Pointer(&seg.Mem[0]))}, nil
}

// mapSlotTable maps the slot table whose descriptor a worker inherited.
func mapSlotTable(fd int) (*slotTable, error) {
	seg, err := shm.Map(fd)
	if err != nil {
		return nil, err
	}
	if len(seg.Mem) < numSlots*8 {
		seg.Close()
		return nil, fmt.Errorf("slot table of %d bytes; want %d", len(seg.Mem), slotsSize)
	}
	return &slotTable{seg: seg, words: (*[numSlots]atomic.Uint64)(unsafe.Pointer(&seg.Mem[0]))}, nil
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
