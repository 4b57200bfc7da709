package shmtable

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Tx is the table as seen by the function Locked runs, with the lock held. Its methods are the
// Table's operations without the lock (and without ctx: they never wait). It is valid only until
// that function returns; using it afterwards panics. Slices it returns that alias the table
// (Peek's, Range's) are valid until the next write through tx, or the end of the function.
type Tx struct {
	t       *Table
	done    bool // Locked has returned
	ranging bool // inside Range: writes are refused
	batch   bool // inside Locked: writes are logged (undo.go)
}

// crashHook, when set (by tests), is called at each point inside an operation where a process
// killed there leaves the table in a different state; a test child kills itself there.
var crashHook func(point string)

func hook(point string) {
	if crashHook != nil {
		crashHook(point)
	}
}

func (tx *Tx) check() {
	if tx == nil || tx.t == nil || tx.done {
		panic("shmtable: Tx used after the function given to Locked returned; keep it inside that function")
	}
}

// Get appends the value of key to dst and returns it with the entry's revision; found is false
// (and rev 0) when the table has no such key.
func (tx *Tx) Get(key, dst []byte) (val []byte, rev uint64, found bool, err error) {
	tx.check()
	return tx.get(key, dst)
}

// Peek returns the value of key as it lies in shared memory, without copying it: valid until
// the next write through tx or the end of Locked's function, and not to be written to.
func (tx *Tx) Peek(key []byte) (val []byte, rev uint64, found bool, err error) {
	tx.check()
	_, off, found, err := tx.find(key)
	if err != nil || !found {
		return nil, 0, false, err
	}
	_, v, rev, _, _ := tx.t.record(off)
	return v, rev, true, nil
}

// Set stores val under key and returns the entry's new revision.
func (tx *Tx) Set(key, val []byte) (rev uint64, err error) {
	tx.check()
	rev, _, err = tx.set(key, val, 0, false)
	return rev, err
}

// CompareAndSwap stores val under key if the entry's revision is old (0: if there is no such
// key), returning the new revision and true; otherwise it returns the current revision (0 if
// absent) and false.
func (tx *Tx) CompareAndSwap(key, val []byte, old uint64) (rev uint64, swapped bool, err error) {
	tx.check()
	return tx.set(key, val, old, true)
}

// Delete removes key, reporting whether it was there.
func (tx *Tx) Delete(key []byte) (found bool, err error) {
	tx.check()
	return tx.del(key)
}

// Len returns the number of entries.
func (tx *Tx) Len() int {
	tx.check()
	return tx.len()
}

func (tx *Tx) len() int { return int(min(*tx.t.u64(hCount), 1<<40)) }

// Clear removes every entry (see Table.Clear).
func (tx *Tx) Clear() error {
	tx.check()
	return tx.clear()
}

func (tx *Tx) clear() error {
	if tx.ranging {
		return errRanging
	}
	t := tx.t
	if tx.batch {
		// Entry by entry, so that the batch's undo log can put them back.
		_, _, slots, err := t.index()
		if err != nil {
			return err
		}
		for _, s := range slots {
			if s > slotTomb {
				k, _, _, _, err := t.record(s & offMask)
				if err != nil {
					return err
				}
				if _, err := tx.del(k); err != nil {
					return err
				}
			}
		}
		return nil
	}
	ioff, log, slots, err := t.index()
	if err != nil {
		return err
	}
	noff, err := t.alloc(8 << minIndexLog)
	if err != nil {
		return err
	}
	clear(t.mem[noff : noff+8<<minIndexLog])
	atomic.StoreUint64(t.u64(hIndex), indexWord(noff, minIndexLog))
	hook("clear")
	*t.u64(hCount), *t.u64(hTombs) = 0, 0
	for _, s := range slots {
		if s > slotTomb {
			k, v, _, _, err := t.record(s & offMask)
			if err != nil {
				return err
			}
			t.free(s&offMask, recHead+uint64(len(k)+len(v)))
		}
	}
	t.free(ioff, 8<<log)
	return nil
}

// Range calls fn for every entry, in no particular order, until fn returns false. key and val
// alias the table: valid until fn returns. fn may read through tx; a write through tx inside fn
// returns an error wrapping ErrInvalid.
func (tx *Tx) Range(fn func(key, val []byte, rev uint64) bool) error {
	tx.check()
	return tx.rangeAll(fn)
}

func (tx *Tx) rangeAll(fn func(key, val []byte, rev uint64) bool) error {
	_, _, slots, err := tx.t.index()
	if err != nil {
		return err
	}
	was := tx.ranging
	tx.ranging = true
	defer func() { tx.ranging = was }()
	for _, s := range slots {
		if s <= slotTomb {
			continue
		}
		k, v, rev, _, err := tx.t.record(s & offMask)
		if err != nil {
			return err
		}
		if !fn(k[:len(k):len(k)], v[:len(v):len(v)], rev) {
			return nil
		}
	}
	return nil
}

var errRanging = fmt.Errorf("%w: a write inside Tx.Range; collect the changes and make them after it", ErrInvalid)

// index returns the current index: its block's offset, log2 of its slots, and the slots. The
// header's word is checked, so the slots lie inside the file.
func (t *Table) index() (off uint64, log uint, slots []uint64, err error) {
	w := atomic.LoadUint64(t.u64(hIndex))
	off, log = w&offMask, uint(w>>56)
	if log < minIndexLog || log > 36 || off&15 != 0 || off < heapStart || off+8<<log > t.size {
		return 0, 0, nil, fmt.Errorf("%w: index word %#x", ErrCorrupt, w)
	}
	return off, log, unsafe.Slice((*uint64)(unsafe.Pointer(&t.mem[off])), 1<<log), nil
}

// record returns the record at off, checked to lie inside the file.
func (t *Table) record(off uint64) (key, val []byte, rev, h uint64, err error) {
	if off&15 != 0 || off < heapStart || off+recHead > t.size {
		return nil, nil, 0, 0, fmt.Errorf("%w: a slot refers to offset %#x", ErrCorrupt, off)
	}
	p := unsafe.Pointer(&t.mem[off])
	kl, vl := uint64(*(*uint32)(p)), uint64(*(*uint32)(unsafe.Add(p, 4)))
	end := off + recHead + kl + vl
	if end > t.size {
		return nil, nil, 0, 0, fmt.Errorf("%w: the record at %#x (%d+%d bytes) passes the file's end", ErrCorrupt, off, kl, vl)
	}
	k := off + recHead
	return t.mem[k : k+kl], t.mem[k+kl : end], *(*uint64)(unsafe.Add(p, 8)), *(*uint64)(unsafe.Add(p, 16)), nil
}

// lookup finds key (of hash h) in slots: its position if found, else the position an insert
// would take (-1 if there is none: only in a corrupt table).
func (t *Table) lookup(slots []uint64, key []byte, h uint64) (pos int, found bool, err error) {
	mask := uint64(len(slots) - 1)
	i, tomb := h&mask, -1
	for range len(slots) {
		s := slots[i]
		switch {
		case s == slotEmpty:
			if tomb >= 0 {
				return tomb, false, nil
			}
			return int(i), false, nil
		case s == slotTomb:
			if tomb < 0 {
				tomb = int(i)
			}
		case s>>48 == h>>48:
			k, _, _, _, err := t.record(s & offMask)
			if err != nil {
				return 0, false, err
			}
			if bytes.Equal(k, key) {
				return int(i), true, nil
			}
		}
		i = (i + 1) & mask
	}
	return tomb, false, nil
}

// find looks key up in the current index.
func (tx *Tx) find(key []byte) (pos int, off uint64, found bool, err error) {
	t := tx.t
	_, _, slots, err := t.index()
	if err != nil {
		return 0, 0, false, err
	}
	pos, found, err = t.lookup(slots, key, hash(t.seed, key))
	if err != nil || !found {
		return pos, 0, false, err
	}
	return pos, slots[pos] & offMask, true, nil
}

func (tx *Tx) get(key, dst []byte) ([]byte, uint64, bool, error) {
	_, off, found, err := tx.find(key)
	if err != nil || !found {
		return dst, 0, false, err
	}
	_, v, rev, _, _ := tx.t.record(off)
	return append(dst, v...), rev, true, nil
}

// set stores val under key; with cas, only if the entry's revision is old (0: absent).
func (tx *Tx) set(key, val []byte, old uint64, cas bool) (uint64, bool, error) {
	if tx.ranging {
		return 0, false, errRanging
	}
	t := tx.t
	n := recHead + uint64(len(key)) + uint64(len(val))
	if uint64(len(key)) > 1<<31 || uint64(len(val)) > 1<<31 || n > t.max-heapStart {
		return 0, false, fmt.Errorf("%w: an entry of %d+%d bytes cannot fit in a table of at most %d bytes", ErrFull, len(key), len(val), t.max)
	}
	h := hash(t.seed, key)
	_, log, slots, err := t.index()
	if err != nil {
		return 0, false, err
	}
	pos, found, err := t.lookup(slots, key, h)
	if err != nil {
		return 0, false, err
	}
	var cur uint64
	if found {
		_, _, cur, _, _ = t.record(slots[pos] & offMask)
	}
	if cas && cur != old {
		return cur, false, nil
	}
	if !found {
		// (Capped by the slots: a corrupt header must not ask for a huge index.)
		count, tombs := min(*t.u64(hCount), 1<<log), min(*t.u64(hTombs), 1<<log)
		if pos < 0 || slots[pos] == slotEmpty && (count+tombs+1)*2 > 1<<log {
			nlog := uint(minIndexLog)
			for (count+1)*4 > 1<<nlog && nlog < 36 {
				nlog++
			}
			if slots, err = t.rehash(nlog); err != nil {
				return 0, false, err
			}
			if pos, _, err = t.lookup(slots, key, h); err != nil {
				return 0, false, err
			}
			if pos < 0 {
				return 0, false, fmt.Errorf("%w: no free slot after the index grew", ErrCorrupt)
			}
		}
	}
	off, err := t.alloc(n)
	if err != nil {
		return 0, false, err
	}
	p := unsafe.Pointer(&t.mem[off])
	rev := *t.u64(hRev) + 1
	*(*uint32)(p) = uint32(len(key))
	*(*uint32)(unsafe.Add(p, 4)) = uint32(len(val))
	*(*uint64)(unsafe.Add(p, 8)) = rev
	*(*uint64)(unsafe.Add(p, 16)) = h
	copy(t.mem[off+recHead:], key)
	copy(t.mem[off+recHead+uint64(len(key)):], val)
	*t.u64(hRev) = rev
	hook("write")
	was := slots[pos]
	if tx.batch {
		keyRec := off
		if found {
			keyRec = was & offMask
		}
		if err := t.logUndo(was, keyRec); err != nil {
			t.free(off, n)
			return 0, false, err
		}
		t.allocs = append(t.allocs, block{off, n})
	}
	atomic.StoreUint64(&slots[pos], h&^offMask|off) // the commit
	hook("commit")
	if found {
		k, v, _, _, _ := t.record(was & offMask)
		t.release(was&offMask, recHead+uint64(len(k)+len(v)))
	} else {
		*t.u64(hCount)++
		if was == slotTomb {
			*t.u64(hTombs)--
		}
	}
	return rev, true, nil
}

func (tx *Tx) del(key []byte) (bool, error) {
	if tx.ranging {
		return false, errRanging
	}
	t := tx.t
	_, _, slots, err := t.index()
	if err != nil {
		return false, err
	}
	pos, found, err := t.lookup(slots, key, hash(t.seed, key))
	if err != nil || !found {
		return false, err
	}
	was := slots[pos]
	if tx.batch {
		if err := t.logUndo(was, was&offMask); err != nil {
			return false, err
		}
	}
	// A slot before an empty one ends every probe through it: it can be emptied rather than
	// marked deleted.
	if slots[(pos+1)&(len(slots)-1)] == slotEmpty {
		atomic.StoreUint64(&slots[pos], slotEmpty)
	} else {
		atomic.StoreUint64(&slots[pos], slotTomb)
		*t.u64(hTombs)++
	}
	hook("commit")
	*t.u64(hCount)--
	k, v, _, _, _ := t.record(was & offMask)
	t.release(was&offMask, recHead+uint64(len(k)+len(v)))
	return true, nil
}

// release frees a record the index no longer names: at once, or in a batch when it commits
// (the undo log may name it).
func (t *Table) release(off, n uint64) {
	if t.tx.batch {
		t.frees = append(t.frees, block{off, n})
		return
	}
	t.free(off, n)
}

// rehash moves the entries into a new index of 1<<log slots and frees the old one.
func (t *Table) rehash(log uint) ([]uint64, error) {
	ooff, olog, old, err := t.index()
	if err != nil {
		return nil, err
	}
	if t.tx.batch {
		// Never smaller inside a batch: rolling it back may put back every entry it deleted.
		log = max(log, olog)
	}
	size := uint64(8) << log
	off, err := t.alloc(size)
	if err != nil {
		return nil, err
	}
	clear(t.mem[off : off+size])
	slots := unsafe.Slice((*uint64)(unsafe.Pointer(&t.mem[off])), 1<<log)
	mask := uint64(len(slots) - 1)
	var n uint64
	for _, s := range old {
		if s <= slotTomb {
			continue
		}
		_, _, _, h, err := t.record(s & offMask)
		if err != nil || n == mask {
			t.free(off, size)
			if err == nil {
				err = fmt.Errorf("%w: more entries than the index has slots", ErrCorrupt)
			}
			return nil, err
		}
		i := h & mask
		for slots[i] != slotEmpty {
			i = (i + 1) & mask
		}
		slots[i] = s
		n++
	}
	hook("rehash")
	atomic.StoreUint64(t.u64(hIndex), indexWord(off, log)) // the commit
	hook("rehash-commit")
	*t.u64(hCount), *t.u64(hTombs) = n, 0
	t.free(ooff, 8<<olog)
	return slots, nil
}
