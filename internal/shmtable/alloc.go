package shmtable

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"sync/atomic"
)

// The heap's allocator: blocks in size classes, 16 bytes apart up to 128, then four per power of
// two (at most a quarter of a block wasted), each class with a free list threaded through its
// free blocks' first word, and a bitmap of the classes whose list is not empty. All of it is
// derived state: rebuild makes it again from the live blocks (the index and the records it names).

const (
	hBits       = 224 // 3 uint64: bit c set when class c's free list is not empty (derived)
	hFreesSince = 248 // uint64: frees since the last rebuild (derived)
	minBlock    = 32
)

// classSizes are the block sizes, ascending.
var classSizes = func() []uint64 {
	var cs []uint64
	for s := uint64(minBlock); s <= 128; s += 16 {
		cs = append(cs, s)
	}
	for p := 7; p <= 40; p++ {
		step := uint64(1) << (p - 2)
		for i := uint64(1); i <= 4; i++ {
			cs = append(cs, 1<<p+i*step)
		}
	}
	return cs
}()

func init() {
	if hHeads+8*len(classSizes) > heapStart || len(classSizes) > 3*64 || hFreesSince+8 > hHeads {
		panic("shmtable: the size classes do not fit the header")
	}
}

// classOf returns the class of the smallest blocks that hold n bytes.
func classOf(n uint64) int {
	if n <= 128 {
		return int(max(n, minBlock)+15)/16 - 2
	}
	p := bits.Len64(n-1) - 1 // 1<<p < n <= 1<<(p+1), p >= 7
	if p > 40 {
		return len(classSizes)
	}
	step := uint64(1) << (p - 2)
	return 7 + (p-7)*4 + int((n-1<<p+step-1)/step) - 1
}

// largestFit returns the class of the largest blocks of at most n bytes, -1 if none.
func largestFit(n uint64) int {
	return sort.Search(len(classSizes), func(i int) bool { return classSizes[i] > n }) - 1
}

func (t *Table) head(c int) *uint64 { return t.u64(hHeads + 8*uint64(c)) }
func (t *Table) bitw(c int) *uint64 { return t.u64(hBits + 8*uint64(c/64)) }

// block reports whether [off, off+n) is a well-formed block of the heap's used part.
func (t *Table) block(off, n uint64) bool {
	top := *t.u64(hTop)
	return off&15 == 0 && off >= heapStart && off+n >= off && off+n <= top && top <= t.size
}

// alloc returns a block of at least n bytes, growing the file if it must.
func (t *Table) alloc(n uint64) (uint64, error) {
	if n > t.max {
		return 0, fmt.Errorf("%w: %d bytes asked of a table of at most %d", ErrFull, n, t.max)
	}
	c := classOf(n)
	cs := classSizes[c]
	rebuilt := false
	for {
		if i := t.nonEmpty(c); i >= 0 {
			off, err := t.pop(i)
			if err != nil {
				return 0, err
			}
			if i > c {
				t.carve(off+cs, classSizes[i]-cs)
			}
			return off, nil
		}
		top := *t.u64(hTop)
		if top&15 != 0 || top < heapStart || top > t.size {
			return 0, fmt.Errorf("%w: the heap's top is %#x in a file of %d bytes", ErrCorrupt, top, t.size)
		}
		if top+cs <= t.size {
			*t.u64(hTop) = top + cs
			return top, nil
		}
		// The heap must grow: coalesce the free space first if there is much of it, and frees
		// enough since the last time to pay for the rebuild.
		if !rebuilt && *t.u64(hFree)*4 >= top-heapStart && *t.u64(hFreesSince) >= 64+*t.u64(hCount)/4 {
			if err := t.rebuild(); err != nil {
				return 0, err
			}
			rebuilt = true
			continue
		}
		need := top + cs
		if need > t.max {
			if !rebuilt {
				if err := t.rebuild(); err != nil {
					return 0, err
				}
				rebuilt = true
				continue
			}
			return 0, fmt.Errorf("%w: %d bytes more needed; the table's limit is %d bytes (Options.MaxSize)", ErrFull, cs, t.max)
		}
		size := min((max(need, t.size*2)+64<<10-1)&^(64<<10-1), t.max)
		fsize, err := fileSize(t.fd)
		if err != nil {
			return 0, err
		}
		size = max(size, min(uint64(fsize), t.max)) // a grower killed after its ftruncate
		if err := growFile(t.fd, int64(size)); err != nil {
			return 0, err
		}
		hook("grow")
		atomic.StoreUint64(t.u64(hSize), size)
		t.size = size
	}
}

// nonEmpty returns the smallest class at least c whose free list is not empty, -1 if none.
func (t *Table) nonEmpty(c int) int {
	for w := c / 64; w*64 < len(classSizes); w++ {
		b := *t.u64(hBits + 8*uint64(w))
		if w == c/64 {
			b &^= 1<<(c%64) - 1
		}
		if b != 0 {
			if i := w*64 + bits.TrailingZeros64(b); i < len(classSizes) {
				return i
			}
			return -1
		}
	}
	return -1
}

func (t *Table) pop(c int) (uint64, error) {
	h := t.head(c)
	off := *h
	if !t.block(off, classSizes[c]) {
		return 0, fmt.Errorf("%w: the free list of %d-byte blocks starts at %#x", ErrCorrupt, classSizes[c], off)
	}
	next := *t.u64(off)
	if next != 0 && !t.block(next, classSizes[c]) {
		return 0, fmt.Errorf("%w: the free list of %d-byte blocks links to %#x", ErrCorrupt, classSizes[c], next)
	}
	*h = next
	if next == 0 {
		*t.bitw(c) &^= 1 << (c % 64)
	}
	*t.u64(hFree) -= classSizes[c]
	return off, nil
}

func (t *Table) push(off uint64, c int) {
	h := t.head(c)
	*t.u64(off) = *h
	hook("free")
	*h = off
	*t.bitw(c) |= 1 << (c % 64)
	*t.u64(hFree) += classSizes[c]
}

// free returns the block at off that was allocated for n bytes.
func (t *Table) free(off, n uint64) {
	c := classOf(n)
	if c >= len(classSizes) || !t.block(off, classSizes[c]) {
		return // a corrupt table's record: leak it rather than link it
	}
	t.push(off, c)
	*t.u64(hFreesSince)++
}

// carve puts [off, off+n) on the free lists, as few blocks as will cover it (a last piece under
// the smallest block stays unused until the next rebuild).
func (t *Table) carve(off, n uint64) {
	for n >= minBlock {
		c := largestFit(n)
		t.push(off, c)
		off, n = off+classSizes[c], n-classSizes[c]
	}
}

type span struct{ off, end uint64 }

// liveSpans returns the blocks the table uses — the index and the records it names — sorted,
// after checking that they lie inside the file and do not overlap. It also counts the entries
// and deleted slots.
func (t *Table) liveSpans() (spans []span, count, tombs uint64, err error) {
	ioff, log, slots, err := t.index()
	if err != nil {
		return nil, 0, 0, err
	}
	spans = append(t.sorted[:0], span{ioff, ioff + classSizes[classOf(8<<log)]})
	for _, s := range slots {
		switch {
		case s == slotTomb:
			tombs++
		case s > slotTomb:
			k, v, _, _, err := t.record(s & offMask)
			if err != nil {
				return nil, 0, 0, err
			}
			off := s & offMask
			spans = append(spans, span{off, off + classSizes[classOf(recHead+uint64(len(k)+len(v)))]})
			count++
		}
	}
	if spans, err = t.undoSpans(spans); err != nil {
		return nil, 0, 0, err
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.off, b.off) })
	spans = slices.Compact(spans) // a record both in the index and in the undo log
	t.sorted = spans
	for i, s := range spans {
		if s.end > t.size || i > 0 && s.off < spans[i-1].end {
			return nil, 0, 0, fmt.Errorf("%w: blocks at %#x overlap or pass the file's end", ErrCorrupt, s.off)
		}
	}
	return spans, count, tombs, nil
}

// rebuild makes the allocator's state, the counts and the heap's top again from the live blocks:
// after a dead owner (whatever it left half done), and to coalesce free space.
func (t *Table) rebuild() error {
	spans, count, tombs, err := t.liveSpans()
	if err != nil {
		return err
	}
	for c := range classSizes {
		*t.head(c) = 0
	}
	for w := range 3 {
		*t.u64(hBits + 8*uint64(w)) = 0
	}
	*t.u64(hFree), *t.u64(hFreesSince) = 0, 0
	*t.u64(hTop) = spans[len(spans)-1].end
	prev := uint64(heapStart)
	for _, s := range spans {
		t.carve(prev, s.off-prev)
		prev = s.end
	}
	*t.u64(hCount), *t.u64(hTombs) = count, tombs
	return nil
}

// recover makes the table whole after a process died holding its lock: the file's size as the
// file says (if the dead process grew it and did not record it), then rebuild.
func (t *Table) recover() error {
	if fsize, err := fileSize(t.fd); err == nil && uint64(fsize) > t.size && uint64(fsize) <= t.max {
		atomic.StoreUint64(t.u64(hSize), uint64(fsize))
		t.size = uint64(fsize)
	}
	if *t.u64(hUndoLen) != 0 {
		if err := t.undo(); err != nil { // the dead process was inside a Locked batch
			return err
		}
	}
	if err := t.rebuild(); err != nil {
		return err
	}
	*t.u64(hRecovered)++
	return nil
}
