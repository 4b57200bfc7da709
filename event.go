package mp

import (
	"context"
	"sync/atomic"
)

// Event is a flag shared by processes that they can wait for: Python's multiprocessing.Event.
//
// An Event is safe for concurrent use by goroutines and processes. It is a handle (see the package
// doc): pass it to a child in a task or Process argument, or over a Conn (not on a Queue), and the
// child gets the same event. Set, Clear and IsSet are an atomic operation each (Set adds a futex
// wake-up when someone waits); a Set in one process is seen by a Wait in another in about 1.6 µs
// on a 2-core Linux VM (event_latency in bench/compare). It takes one page of shared memory.
type Event struct {
	syncHandle
	flag    *uint32
	waiting *uint32
}

// NewEvent makes an event, not set.
func NewEvent() (*Event, error) {
	s, err := newShared(kindEvent, 0)
	if err != nil {
		return nil, err
	}
	return newEvent(s), nil
}

func newEvent(s *shared) *Event {
	return track(&Event{syncHandle: syncHandle{s}, flag: s.word(offWords), waiting: s.word(offWords + 4)}, s)
}

// Set sets the event and wakes every process waiting for it.
func (e *Event) Set() error {
	if err := e.check(); err != nil {
		return err
	}
	if atomic.SwapUint32(e.flag, 1) == 0 {
		wakeIf(e.waiting, e.flag)
	}
	return nil
}

// Clear resets the event.
func (e *Event) Clear() error {
	if err := e.check(); err != nil {
		return err
	}
	atomic.StoreUint32(e.flag, 0)
	return nil
}

// IsSet reports whether the event is set.
func (e *Event) IsSet() bool {
	mustOpen(e.check())
	return atomic.LoadUint32(e.flag) != 0
}

// Wait waits until the event is set or ctx ends (Python's wait(timeout) is Wait with a ctx that
// has a timeout; a nil error is its True).
func (e *Event) Wait(ctx context.Context) error {
	if err := e.check(); err != nil {
		return err
	}
	if atomic.LoadUint32(e.flag) != 0 {
		return nil
	}
	for {
		if spin(e.flag, 0) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		atomic.StoreUint32(e.waiting, 1)
		if atomic.LoadUint32(e.flag) != 0 {
			return nil
		}
		wait(ctx, e.flag, 0)
		if atomic.LoadUint32(e.flag) != 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.s.closed.Load() {
			return e.check() // closed by another goroutine while this one waited
		}
	}
}

// Close releases this process's hold on e: its descriptor now, its page of memory once e is
// garbage. The event lives on in the other processes that hold it; a Wait of this process that is
// waiting returns an error wrapping ErrClosed. Close is idempotent, and does nothing on a nil Event.
func (e *Event) Close() error {
	if e == nil {
		return nil
	}
	return e.s.close()
}

// check returns the error of a method called on e when e is nil, zero or closed.
func (e *Event) check() error {
	if e == nil {
		return (*shared)(nil).check(kindEvent)
	}
	return e.s.check(kindEvent)
}

func (*Event) handleAdopt(fds []int, meta string) (any, error) {
	s, err := adoptShared(firstFD(fds), meta, kindEvent)
	if err != nil {
		return nil, err
	}
	return newEvent(s), nil
}
