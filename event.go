package mp

import (
	"context"
	"sync/atomic"
)

// Event is a flag shared by processes that they can wait for: Python's multiprocessing.Event.
type Event struct {
	s       *shared
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
	return track(&Event{s: s, flag: s.word(offWords), waiting: s.word(offWords + 4)}, s)
}

// Set sets the event and wakes every process waiting for it.
func (e *Event) Set() error {
	if err := e.s.check(); err != nil {
		return err
	}
	if atomic.SwapUint32(e.flag, 1) == 0 {
		wakeIf(e.waiting, e.flag)
	}
	return nil
}

// Clear resets the event.
func (e *Event) Clear() error {
	if err := e.s.check(); err != nil {
		return err
	}
	atomic.StoreUint32(e.flag, 0)
	return nil
}

// IsSet reports whether the event is set.
func (e *Event) IsSet() bool { return e.s.check() == nil && atomic.LoadUint32(e.flag) != 0 }

// Wait waits until the event is set or ctx ends (Python's wait(timeout) is Wait with a ctx that
// has a timeout; a nil error is its True).
func (e *Event) Wait(ctx context.Context) error {
	if err := e.s.check(); err != nil {
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
			return e.s.check()
		}
	}
}

// Close releases this process's hold on e.
func (e *Event) Close() error { return e.s.close() }

func (e *Event) handleDup() (int, string, error) {
	if e == nil {
		return -1, "", (*shared)(nil).check()
	}
	return e.s.dup()
}

func (*Event) handleAdopt(fd int, meta string) (any, error) {
	s, err := adoptShared(fd, meta, kindEvent)
	if err != nil {
		return nil, err
	}
	return newEvent(s), nil
}

// MarshalCBOR refuses to encode an Event outside a task argument or a Conn's Send.
func (e *Event) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindEvent) }
