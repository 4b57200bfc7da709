package mp

import (
	"bufio"
	"fmt"
	"sync"
	"time"

	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

// A worker's result that holds big values travels by shared memory (bulk.go): the worker sends
// the segments' descriptors on the control socket in a TypeReplyFDs frame, then writes its Reply
// as usual. The parent's watcher of the control socket (watchDeath) files the descriptors by
// call ID; the reader of the Reply, seeing a result that refers to segments, takes them. As the
// descriptors leave first, the wait is only for the watcher to be scheduled; it is bounded all
// the same, by the worker's death and by replyFDsWait.

// replyFDsWait bounds the wait for the descriptors of a result whose Reply has arrived.
const replyFDsWait = 10 * time.Second

// replyFDs holds the descriptors of results that have arrived ahead of their replies.
type replyFDs struct {
	mu      sync.Mutex
	sets    map[uint64][]int
	done    bool          // the control socket is closed: no more will come
	changed chan struct{} // closed when sets or done change
}

// put files the descriptors of call id's result; a second set for the same call (which the
// protocol does not allow) replaces the first, which is closed.
func (r *replyFDs) put(id uint64, fds []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sets == nil {
		r.sets = make(map[uint64][]int)
	}
	closeFDs(r.sets[id])
	r.sets[id] = fds
	r.signal()
}

// finish records that no more descriptors will come.
func (r *replyFDs) finish() {
	r.mu.Lock()
	r.done = true
	r.signal()
	r.mu.Unlock()
}

// drain closes the descriptors no reply took; then take finds none.
func (r *replyFDs) drain() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, fds := range r.sets {
		closeFDs(fds)
		delete(r.sets, id)
	}
	r.done = true
	r.signal()
}

func (r *replyFDs) signal() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// take waits for the descriptors of call id's result, which the caller owns from then on.
func (r *replyFDs) take(id uint64) ([]int, error) {
	var timer *time.Timer
	for {
		r.mu.Lock()
		if fds, ok := r.sets[id]; ok {
			delete(r.sets, id)
			r.mu.Unlock()
			return fds, nil
		}
		if r.done {
			r.mu.Unlock()
			return nil, fmt.Errorf("%w: the result of call %d refers to shared memory, and its descriptors never arrived (the worker exited)", ErrProtocol, id)
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(replyFDsWait)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, fmt.Errorf("%w: the result of call %d refers to shared memory, and its descriptors did not arrive within %v", ErrProtocol, id, replyFDsWait)
		}
	}
}

// watchControl reads the control socket of worker w until it closes, filing the descriptors of
// results. A frame of another kind breaks the protocol: the worker is killed.
func (w *worker) watchControl() {
	defer w.rfds.finish()
	ctl, err := sys.NewFDReader(w.conn)
	if err != nil {
		drainUntilEOF(w)
		return
	}
	in := bufio.NewReaderSize(ctl, 256)
	for {
		typ, payload, err := wire.ReadFrame(in, 64)
		if err == nil && typ != wire.TypeReplyFDs {
			err = fmt.Errorf("frame type %d", typ)
		}
		var id, n uint64
		if err == nil {
			id, n, err = wire.ParsePair(payload)
		}
		if err == nil && (n == 0 || n > sys.MaxFDs) {
			err = fmt.Errorf("%d descriptors", n)
		}
		var fds []int
		if err == nil {
			fds, err = ctl.Take(int(n))
		}
		if err != nil {
			closeFDs(ctl.TakeAll())
			w.kill() // a closed socket, or a worker that breaks the protocol
			drainUntilEOF(w)
			return
		}
		w.rfds.put(id, fds)
	}
}

// drainUntilEOF reads the control socket until it closes, dropping what arrives.
func drainUntilEOF(w *worker) {
	var b [64]byte
	for {
		if _, err := w.conn.Read(b[:]); err != nil {
			return
		}
	}
}
