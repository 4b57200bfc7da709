package shmtable

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"unsafe"
)

// Check takes the lock and verifies every invariant of the table, returning an error wrapping
// ErrCorrupt that names the first one broken: the header agrees with the file; the index lies
// inside it; every slot is empty, deleted or names a record inside the file whose stored hash is
// its key's, whose tag is the hash's, whose revision is at most the table's, and which a lookup
// of its key finds (so no key is there twice, and no probe sequence is broken); the counts are
// right; the index, the records and the blocks on the free lists lie below the heap's top and
// overlap nowhere; each free list is acyclic and its bit in the bitmap says whether it is empty,
// and the free bytes add up. It costs a walk of the whole table, for tests and diagnosis.
func (t *Table) Check(ctx context.Context) error {
	dead, err := t.lock(ctx)
	if err != nil {
		return err
	}
	err = t.check()
	t.unlock()
	return result(dead, err)
}

func (t *Table) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	ne := binary.NativeEndian
	if atomic.LoadUint32((*uint32)(unsafe.Pointer(&t.mem[hMagic]))) != magic || ne.Uint32(t.mem[hVersion:]) != version {
		return bad("magic or version changed")
	}
	if ne.Uint64(t.mem[hMaxSize:]) != t.max || ne.Uint64(t.mem[hSeed:]) != t.seed {
		return bad("the header's size limit or hash seed changed")
	}
	fsize, err := fileSize(t.fd)
	if err != nil {
		return err
	}
	if t.size > uint64(fsize) || t.size > t.max {
		return bad("size %d, file %d, limit %d", t.size, fsize, t.max)
	}
	top := *t.u64(hTop)
	if top < heapStart || top > t.size || top&15 != 0 {
		return bad("heap top %#x in a file of %d bytes", top, t.size)
	}
	_, _, slots, err := t.index()
	if err != nil {
		return err
	}
	if n := *t.u64(hUndoLen); n != 0 {
		return bad("the undo log holds %d entries outside a batch", n)
	}
	rev := *t.u64(hRev)
	for i, s := range slots {
		if s <= slotTomb {
			continue
		}
		k, _, r, h, err := t.record(s & offMask)
		if err != nil {
			return err
		}
		if h != hash(t.seed, k) || s>>48 != h>>48 {
			return bad("slot %d: the record's hash or the slot's tag is not its key's", i)
		}
		if r == 0 || r > rev {
			return bad("slot %d: revision %d, the table's last is %d", i, r, rev)
		}
		pos, found, err := t.lookup(slots, k, h)
		if err != nil {
			return err
		}
		if !found || pos != i {
			return bad("slot %d: a lookup of its key finds slot %d (found %v): a duplicate or a broken probe", i, pos, found)
		}
	}
	spans, count, tombs, err := t.liveSpans()
	if err != nil {
		return err
	}
	spans = slices.Clone(spans)
	if count != *t.u64(hCount) || tombs != *t.u64(hTombs) {
		return bad("%d entries and %d deleted slots; the header says %d and %d", count, tombs, *t.u64(hCount), *t.u64(hTombs))
	}
	if spans[len(spans)-1].end > top {
		return bad("a live block ends at %#x, past the heap's top %#x", spans[len(spans)-1].end, top)
	}
	live := len(spans)
	var free uint64
	maxBlocks := (t.size - heapStart) / minBlock
	for c, cs := range classSizes {
		n := uint64(0)
		for off := *t.head(c); off != 0; off = *t.u64(off) {
			if !t.block(off, cs) {
				return bad("the free list of %d-byte blocks has %#x", cs, off)
			}
			if n++; n > maxBlocks {
				return bad("the free list of %d-byte blocks is a cycle", cs)
			}
			spans = append(spans, span{off, off + cs})
			free += cs
		}
		if bit := *t.bitw(c)&(1<<(c%64)) != 0; bit != (n > 0) {
			return bad("the bitmap says the free list of %d-byte blocks is empty: %v; it has %d", cs, !bit, n)
		}
	}
	if free != *t.u64(hFree) {
		return bad("%d bytes on the free lists; the header says %d", free, *t.u64(hFree))
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.off, b.off) })
	for i := 1; i < len(spans); i++ {
		if spans[i].off < spans[i-1].end {
			return bad("blocks at %#x and %#x overlap (%d live blocks)", spans[i-1].off, spans[i].off, live)
		}
	}
	return nil
}
