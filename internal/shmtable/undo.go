package shmtable

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// A Locked batch is all or nothing. Before each write of a batch commits, an undo entry is
// appended to a log in the heap: the key's slot as it was (0 if the key was absent), and a record
// that holds the key (the old one, or the new one for a key that was absent). Records the batch
// replaces or deletes are freed only when it ends, so every record the log names stays intact.
// The batch commits by storing 0 in the log's length. If it fails (fn returns an error, or
// panics) or its process dies in it, the log is replayed from its end: each entry puts its
// key's slot back as it was, so each key ends as its first entry found it — as before the batch,
// however far an earlier replay got.

const (
	hUndo    = 184 // uint64: the undo log's block: offset | log2 of its entries << 56
	hUndoLen = 192 // uint64: entries in the undo log; 0 outside a batch
	undoEnt  = 16  // old slot, key record
	minUndo  = 4   // log2 of the first log's entries
)

type block struct{ off, n uint64 }

// undoLog returns the log's entries, checked to lie inside the file ([] if there is no log).
func (t *Table) undoLog() (off uint64, log uint, ents []uint64, err error) {
	w := atomic.LoadUint64(t.u64(hUndo))
	if w == 0 {
		return 0, 0, nil, nil
	}
	off, log = w&offMask, uint(w>>56)
	if log < minUndo || log > 30 || off&15 != 0 || off < heapStart || off+undoEnt<<log > t.size {
		return 0, 0, nil, fmt.Errorf("%w: undo log word %#x", ErrCorrupt, w)
	}
	return off, log, unsafe.Slice((*uint64)(unsafe.Pointer(&t.mem[off])), 2<<log), nil
}

// logUndo appends an entry to the undo log, growing it if it must.
func (t *Table) logUndo(oldSlot, keyRec uint64) error {
	off, log, ents, err := t.undoLog()
	if err != nil {
		return err
	}
	n := *t.u64(hUndoLen)
	if n > uint64(len(ents)/2) {
		return fmt.Errorf("%w: undo log length %d of %d", ErrCorrupt, n, len(ents)/2)
	}
	if n == uint64(len(ents)/2) {
		nlog := uint(minUndo)
		if ents != nil {
			nlog = log + 1
		}
		noff, err := t.alloc(undoEnt << nlog)
		if err != nil {
			return err
		}
		copy(t.mem[noff:noff+undoEnt*n], t.mem[off:off+undoEnt*n])
		atomic.StoreUint64(t.u64(hUndo), indexWord(noff, nlog))
		if ents != nil {
			t.free(off, undoEnt<<log)
		}
		_, _, ents, _ = t.undoLog()
	}
	ents[2*n], ents[2*n+1] = oldSlot, keyRec
	atomic.StoreUint64(t.u64(hUndoLen), n+1)
	hook("undo")
	return nil
}

// undo replays the undo log from its end, putting back each key's slot, and empties it.
func (t *Table) undo() error {
	_, _, ents, err := t.undoLog()
	if err != nil {
		return err
	}
	n := *t.u64(hUndoLen)
	if n > uint64(len(ents)/2) {
		return fmt.Errorf("%w: undo log length %d of %d", ErrCorrupt, n, len(ents)/2)
	}
	for i := int(n) - 1; i >= 0; i-- {
		old, rec := ents[2*i], ents[2*i+1]
		key, _, _, h, err := t.record(rec)
		if err != nil {
			return err
		}
		if old > slotTomb {
			if _, _, _, _, err := t.record(old & offMask); err != nil {
				return err
			}
		}
		_, _, slots, err := t.index()
		if err != nil {
			return err
		}
		pos, found, err := t.lookup(slots, key, h)
		if err != nil {
			return err
		}
		switch {
		case found && old <= slotTomb:
			atomic.StoreUint64(&slots[pos], slotTomb)
			*t.u64(hCount)--
			*t.u64(hTombs)++
		case found:
			atomic.StoreUint64(&slots[pos], old)
		case old > slotTomb:
			if pos < 0 {
				return fmt.Errorf("%w: no slot to put a key back in", ErrCorrupt)
			}
			was := slots[pos]
			atomic.StoreUint64(&slots[pos], old)
			*t.u64(hCount)++
			if was == slotTomb {
				*t.u64(hTombs)--
			}
		}
		hook("replay")
	}
	atomic.StoreUint64(t.u64(hUndoLen), 0)
	return nil
}

// undoSpans appends the blocks the undo log keeps alive: its own, and the records it names.
func (t *Table) undoSpans(spans []span) ([]span, error) {
	off, log, ents, err := t.undoLog()
	if err != nil || ents == nil {
		return spans, err
	}
	spans = append(spans, span{off, off + classSizes[classOf(undoEnt<<log)]})
	n := min(*t.u64(hUndoLen), uint64(len(ents)/2))
	for i := range n {
		for _, r := range []uint64{ents[2*i] & offMask, ents[2*i+1]} {
			if r <= slotTomb {
				continue
			}
			k, v, _, _, err := t.record(r)
			if err != nil {
				return nil, err
			}
			spans = append(spans, span{r, r + classSizes[classOf(recHead+uint64(len(k)+len(v)))]})
		}
	}
	return spans, nil
}

// endBatch ends a Locked batch: it commits (ok), or rolls back to the table as the batch found
// it; then it frees what the outcome left unused.
func (t *Table) endBatch(ok bool) error {
	var err error
	unused := t.frees
	if ok {
		atomic.StoreUint64(t.u64(hUndoLen), 0) // the commit
		hook("batch-commit")
	} else {
		if err = t.undo(); err == nil {
			unused = t.allocs
		}
	}
	if err == nil {
		for _, b := range unused {
			t.free(b.off, b.n)
		}
	}
	t.frees, t.allocs = t.frees[:0], t.allocs[:0]
	return err
}
