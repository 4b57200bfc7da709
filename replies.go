package mp

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

// A worker's replies go through a ring in its shared segment, behind the call slots, with the
// reply pipe as its doorbell: the worker copies a reply into the ring and publishes it with one
// atomic store, and writes to the pipe only when the parent's reader sleeps there. So a reply is
// sent the moment its function returns, and a stream of replies costs no system call while the
// parent keeps up — as cheap as holding replies back to write them together, which a worker must
// not do (the caller may wait for one result before it lets the next call finish).
//
// A record is a wire frame (header, then payload) padded to 8 bytes; it may wrap around the end of
// the ring. A frame too large for the ring goes on the pipe, announced by an empty record of type
// ringInPipe, so that the parent takes frames in the worker's order. The pipe carries only such
// frames and empty doorbell frames.
//
// The reader announces that it is about to sleep (sleeping = 1) and looks at the ring once more
// before it reads the pipe; the worker publishes a record and then looks at sleeping: so either
// the reader sees the record or the worker rings. That needs each side's store ordered before its
// following load, which a plain atomic store does not promise everywhere (under the race
// detector it is a release store, which x86 may let a later load pass): both stores are therefore
// swaps, read-modify-write instructions that are full barriers.
//
// A full ring (the parent is behind by ringSize bytes) makes the worker wait, polling, until the
// parent has read enough: back-pressure, as a full pipe would give.
const (
	ringSize       = 256 << 10
	ringMaxRecord  = ringSize / 4 // larger frames go on the pipe
	ringTailAt     = numSlots * 8 // the words of the ring, in the slot page, each on its own line
	ringHeadAt     = ringTailAt + 64
	ringSleepingAt = ringHeadAt + 64

	ringInPipe   byte = 0xF0 // record type: the next reply is on the pipe
	ringDoorbell byte = 0xF1 // pipe frame type: look at the ring
)

// replyRing is the view of a worker's reply ring; the worker produces, the parent consumes.
type replyRing struct {
	tail     *atomic.Uint64 // bytes published by the worker, ever
	head     *atomic.Uint64 // bytes consumed by the parent, ever
	sleeping *atomic.Uint32 // 1 while the parent's reader sleeps on the pipe
	data     []byte
}

func align8(n int) int { return (n + 7) &^ 7 }

// replyWriter is the worker's end.
type replyWriter struct {
	ring replyRing
	pipe *os.File
	tail uint64
}

// doorbellFrame is an empty frame of type ringDoorbell: a header announcing no payload.
var doorbellFrame = []byte{0, 0, 0, 0, ringDoorbell, 0, 0, 0}

// write sends one reply frame.
func (w *replyWriter) write(frame []byte) error {
	if len(frame) > ringMaxRecord {
		var marker [wire.HeaderSize]byte
		marker[4] = ringInPipe
		if err := w.put(marker[:]); err != nil {
			return err
		}
		_, err := w.pipe.Write(frame)
		return err
	}
	return w.put(frame)
}

// put publishes frame as one record, waiting for room if the ring is full.
func (w *replyWriter) put(frame []byte) error {
	n := uint64(align8(len(frame)))
	for backoff := time.Microsecond; ringSize-(w.tail-w.ring.head.Load()) < n; backoff = min(2*backoff, time.Millisecond) {
		time.Sleep(backoff)
	}
	at := int(w.tail % ringSize)
	k := copy(w.ring.data[at:], frame)
	copy(w.ring.data, frame[k:])
	w.tail += n
	w.ring.tail.Swap(w.tail) // a read-modify-write: see the note on sleeping above
	if w.ring.sleeping.Load() != 0 {
		_, err := w.pipe.Write(doorbellFrame)
		return err
	}
	return nil
}

// replyReader is the parent's end. One goroutine at a time may use it: the worker's reader, or a
// caller that has the worker to itself.
type replyReader struct {
	ring  replyRing
	pipe  *os.File
	fr    *wire.FrameReader // the pipe
	head  uint64
	buf   []byte
	stash []byte // a frame read from the pipe whose marker is still ahead in the ring
	typ   byte
}

func newReplyReader(ring replyRing, pipe *os.File) *replyReader {
	return &replyReader{ring: ring, pipe: pipe, fr: wire.NewFrameReader(pipe, wire.DefaultMaxFrame), buf: make([]byte, 4096)}
}

// next returns the next reply frame; the payload is valid until the following call. It returns
// io.EOF once the worker has exited and every reply it published has been read, and the pipe's
// error (a deadline) when a read was interrupted, after which next may be called again.
func (r *replyReader) next() (typ byte, payload []byte, err error) {
	for {
		if r.ring.tail.Load() != r.head || r.spin() {
			return r.take()
		}
		r.ring.sleeping.Swap(1)
		if r.ring.tail.Load() != r.head {
			r.ring.sleeping.Store(0)
			continue
		}
		typ, payload, err := r.fr.Next()
		r.ring.sleeping.Store(0)
		switch {
		case err != nil:
			if errors.Is(err, io.EOF) && r.ring.tail.Load() != r.head {
				continue // the worker is gone; what it published is still to be read
			}
			return 0, nil, err
		case typ == ringDoorbell:
		default:
			// A large reply, whose marker was published before it was written: keep it (the
			// frame reader's buffer stays ours until its next call, which waits for the marker).
			r.typ, r.stash = typ, payload
		}
	}
}

// spin watches the empty ring for spinFor (the queue ring's spin: replies tend to come in streams,
// and a wake-up through the pipe costs a system call on each side), yielding the CPU between
// looks, and reports whether a record arrived.
func (r *replyReader) spin() bool {
	start := time.Now()
	for i := 0; ; i++ {
		sys.Yield()
		if r.ring.tail.Load() != r.head {
			return true
		}
		if i%8 == 7 && time.Since(start) > spinFor {
			return false
		}
	}
}

// take consumes the record at head.
func (r *replyReader) take() (byte, []byte, error) {
	data := r.ring.data
	at := int(r.head % ringSize)
	size := int(binary.LittleEndian.Uint32(data[at:]))
	typ := data[at+4]
	total := wire.HeaderSize + size
	if typ == ringInPipe {
		r.advance(wire.HeaderSize)
		return r.fromPipe()
	}
	if total > ringMaxRecord {
		return 0, nil, errors.New("mp: a worker's reply ring holds a record larger than it may")
	}
	if cap(r.buf) < size {
		r.buf = make([]byte, size)
	}
	buf := r.buf[:size]
	from := (at + wire.HeaderSize) % ringSize
	k := copy(buf, data[from:])
	copy(buf[k:], data)
	r.advance(total)
	return typ, buf, nil
}

func (r *replyReader) advance(n int) {
	r.head += uint64(align8(n))
	r.ring.head.Store(r.head)
}

// fromPipe returns the reply that a marker announced: the one kept already, or the next frame on
// the pipe that is not a doorbell.
func (r *replyReader) fromPipe() (byte, []byte, error) {
	if r.stash != nil {
		p := r.stash
		r.stash = nil
		return r.typ, p, nil
	}
	for {
		typ, payload, err := r.fr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // announced, never written
			}
			return 0, nil, err
		}
		if typ != ringDoorbell {
			return typ, payload, nil
		}
	}
}
