//go:build unix

package mp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/mp-go/mp/internal/wire"
)

// ringPair makes the two ends of a reply ring, as a worker and its parent have them.
func ringPair(t *testing.T) (*replyWriter, *replyReader) {
	t.Helper()
	st, err := newSlotTable()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.seg.Close() })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return &replyWriter{ring: st.ring, pipe: w}, newReplyReader(st.ring, r)
}

// TestReplyRingOrder: frames of every size — tiny, wrapping around the ring's end, and larger
// than a ring record may be (they go on the pipe) — arrive whole and in order, with the reader
// asleep or awake, and the end of the pipe comes after the last of them.
func TestReplyRingOrder(t *testing.T) {
	wr, rd := ringPair(t)
	const n = 3000
	frames := make([][]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range frames {
		size := rng.IntN(300)
		switch i % 97 {
		case 0:
			size = ringMaxRecord + rng.IntN(ringSize) // on the pipe
		case 1:
			size = ringMaxRecord - wire.HeaderSize // the largest ring record
		}
		payload := make([]byte, size)
		for j := range payload {
			payload[j] = byte(i + j)
		}
		frames[i] = wire.AppendFrame(nil, wire.TypeReply, &wire.Reply{ID: uint64(i), Value: payload})
	}
	go func() {
		for i, f := range frames {
			if i%500 == 0 {
				time.Sleep(2 * time.Millisecond) // let the reader fall asleep now and then
			}
			if err := wr.write(f); err != nil {
				panic(err)
			}
		}
		wr.pipe.Close() // the worker exits
	}()
	for i := range frames {
		typ, payload, err := rd.next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if typ != wire.TypeReply || !bytes.Equal(payload, frames[i][wire.HeaderSize:]) {
			t.Fatalf("frame %d: type %d, %d bytes; want %d bytes", i, typ, len(payload), len(frames[i])-wire.HeaderSize)
		}
	}
	if _, _, err := rd.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v; want io.EOF", err)
	}
}

// TestReplyRingAfterWorkerDeath: replies published with nobody asleep (so no doorbell) are still
// read after the worker is gone, before the end of the pipe is reported.
func TestReplyRingAfterWorkerDeath(t *testing.T) {
	wr, rd := ringPair(t)
	for i := range 10 {
		if err := wr.write(wire.AppendFrame(nil, wire.TypeReply, &wire.Reply{ID: uint64(i)})); err != nil {
			t.Fatal(err)
		}
	}
	wr.pipe.Close()
	for i := range 10 {
		_, payload, err := rd.next()
		var r wire.Reply
		if err == nil {
			err = wire.Unmarshal(payload, &r)
		}
		if err != nil || r.ID != uint64(i) {
			t.Fatalf("reply %d: %+v, %v", i, r, err)
		}
	}
	if _, _, err := rd.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the replies: %v; want io.EOF", err)
	}
}

// TestReplyRingFull: a writer that gets ahead of the reader by more than the ring holds waits
// for room instead of overwriting what is unread.
func TestReplyRingFull(t *testing.T) {
	wr, rd := ringPair(t)
	frame := wire.AppendFrame(nil, wire.TypeReply, &wire.Reply{Value: make([]byte, 1000)})
	const n = 4 * ringSize / 1000
	done := make(chan error, 1)
	go func() {
		for range n {
			if err := wr.write(frame); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		t.Fatalf("the writer wrote %d KiB into a ring of %d KiB with nobody reading (%v)", n, ringSize>>10, err)
	case <-time.After(200 * time.Millisecond): // bounded look: it must still be waiting
	}
	for i := range n {
		if _, p, err := rd.next(); err != nil || len(p) != len(frame)-wire.HeaderSize {
			t.Fatalf("frame %d: %d bytes, %v", i, len(p), err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer never finished")
	}
}

// TestReplyRingInterrupted: a read cut by a deadline loses nothing; the next read goes on.
func TestReplyRingInterrupted(t *testing.T) {
	wr, rd := ringPair(t)
	rd.pipe.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := rd.next(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing sent: %v; want the deadline", err)
	}
	rd.pipe.SetReadDeadline(time.Time{})
	want := wire.AppendFrame(nil, wire.TypeReply, &wire.Reply{ID: 7})
	if err := wr.write(want); err != nil {
		t.Fatal(err)
	}
	if _, p, err := rd.next(); err != nil || !bytes.Equal(p, want[wire.HeaderSize:]) {
		t.Fatalf("after the deadline: %x, %v", p, err)
	}
}

// TestReplyRingHostileRecords: records a broken or hostile worker could publish — a length past
// what a record may hold, garbage, a tail far beyond the head — give an error or a frame the pool
// refuses, never a panic or a read outside the ring.
func TestReplyRingHostileRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		hdr  []byte
		tail uint64
	}{
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, wire.TypeReply, 0, 0, 0}, 8},
		{"past the record limit", []byte{0, 0, 1, 0, wire.TypeReply, 0, 0, 0}, 8},
		{"tail beyond the ring", []byte{4, 0, 0, 0, wire.TypeReply, 0, 0, 0}, 3 * ringSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wr, rd := ringPair(t)
			copy(wr.ring.data, tc.hdr)
			wr.ring.tail.Store(tc.tail)
			wr.pipe.Close()
			for range 4 {
				if _, _, err := rd.next(); err != nil {
					return
				}
			}
		})
	}
}
