//go:build linux || darwin

package mp

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// frameTransport is a managerTransport fed frames by a test; the frames' descriptors are the
// test's too.
type frameTransport struct {
	frames chan frameIn
	fds    []int
}

type frameIn struct {
	id  uint64
	op  byte
	rep mrep
	fds []int
}

func (t *frameTransport) send(uint64, byte, []byte) error { return nil }
func (t *frameTransport) recv() (uint64, byte, []byte, error) {
	f, ok := <-t.frames
	if !ok {
		return 0, 0, nil, os.ErrClosed
	}
	b, _ := encodeManagerMsg(&f.rep)
	t.fds = f.fds
	return f.id, f.op, b, nil
}
func (t *frameTransport) interrupt()   {}
func (t *frameTransport) resume()      {}
func (t *frameTransport) close() error { return nil }
func (t *frameTransport) takeFDs(n int) ([]int, error) {
	fds := t.fds
	t.fds = nil
	return fds, nil
}

// TestManagerHandOffLosesNoDescriptors: an attach reply (it carries descriptors) that reaches the
// reader just as its caller's ctx ends is either delivered to the caller or closed by the reader;
// it is never left in a channel that nobody reads (manager_table_client.go's loose end). The
// caller's ctx ends at the moment the reader hands the reply over (the hook), and the caller is
// given a moment to give up then: before the fix, it returned ctx's error in that moment and the
// reply, sent after, stayed in its channel with its two descriptors.
func TestManagerHandOffLosesNoDescriptors(t *testing.T) {
	tr := &frameTransport{frames: make(chan frameIn, 2)}
	c := &managerClient{addr: "@test", t: tr, pending: map[uint64]chan managerResult{}, local: map[uint64]int{}, free: make(chan struct{}, 1)}
	ch1, ch2 := make(chan managerResult, 1), make(chan managerResult, 1)
	c.pending[1], c.pending[2] = ch1, ch2
	c.reading = true // the leader below reads; the second caller waits on its channel
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan managerResult, 1)
	gaveUp := make(chan struct{})
	managerHandOffHook = func() {
		cancel()
		select { // the caller gives up now, if it can
		case <-gaveUp:
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer func() { managerHandOffHook = nil }()
	go func() {
		r, _ := c.wait(ctx, tr, 2, ch2, false)
		close(gaveUp)
		got <- r
	}()
	leaderDone := make(chan managerResult, 1)
	go func() {
		c.mu.Lock()
		c.reading = false
		c.mu.Unlock()
		r, _ := c.wait(context.Background(), tr, 1, ch1, false)
		leaderDone <- r
	}()
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	tr.frames <- frameIn{id: 2, op: managerOpAttach, rep: mrep{N: 2}, fds: p[:]}
	tr.frames <- frameIn{id: 1, op: managerOpPing}
	for _, ch := range []chan managerResult{leaderDone, got} {
		select {
		case r := <-ch:
			closeFDs(r.rep.fds) // the caller's, when delivered
		case <-time.After(10 * time.Second):
			t.Fatal("a caller never returned")
		}
	}
	if len(ch2) != 0 {
		r := <-ch2
		closeFDs(r.rep.fds)
		t.Fatal("the reply was left in the channel of a caller that gave up, with its descriptors")
	}
	close(tr.frames)
}
