//go:build linux

package shmtable

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzAttach attaches tables whose memory was changed at random — a hostile or buggy process
// writing into the segment — and runs every operation on them: each must return (an error is
// fine), never panic, hang or touch memory outside the file. The input is a list of patches,
// three bytes each: a 16-bit offset into the 64 KiB segment, then the byte to store there.
func FuzzAttach(f *testing.F) {
	base := fuzzBase(f)
	ne := binary.NativeEndian
	patch := func(off int, b ...byte) []byte {
		var p []byte
		for i, x := range b {
			p = append(p, byte(off+i), byte((off+i)>>8), x)
		}
		return p
	}
	f.Add([]byte{})
	f.Add(patch(hMagic, 0))
	f.Add(patch(hIndex, 0xff))        // index word: offset
	f.Add(patch(hIndex+7, 40))        // index word: log2 of the slots
	f.Add(patch(hTop, 0x01))          // heap top misaligned
	f.Add(patch(hCount+5, 0xff))      // a huge entry count
	f.Add(patch(hSize+2, 0x02))       // size past the file
	f.Add(patch(hHeads, 0x10, 0x10))  // a free list into the index
	f.Add(patch(hHeads+8*3, 0xff))    // a free list out of range
	f.Add(patch(hBits, 0xff, 0xff))   // the bitmap says every list has blocks
	f.Add(patch(heapStart+8*3, 0xf8)) // a slot into nowhere
	f.Add(patch(hUndoLen, 3))         // an undo log's length: replayed by the recovery
	f.Add(patch(hUndoLen, 40))        // longer than the log
	f.Add(patch(hUndo+7, minUndo))    // an undo log word
	for off := heapStart; off < len(base)-8; off += 8 {
		if w := ne.Uint64(base[off:]); w > slotTomb && w&offMask >= heapStart && w&offMask < uint64(len(base)) {
			rec := int(w & offMask)
			f.Add(patch(rec+2, 0xff))                      // a key length past the end
			f.Add(patch(rec+4, 0x40))                      // a value length
			f.Add(patch(rec+16, 1))                        // a wrong hash
			f.Add(append(patch(off, 0), patch(rec, 9)...)) // the slot emptied
			f.Add(patch(rec+8, 0xff, 0xff, 0xff))          // a revision from the future
			break
		}
	}
	f.Fuzz(func(t *testing.T, patches []byte) {
		mem := append([]byte(nil), base...)
		for i := 0; i+3 <= len(patches); i += 3 {
			mem[int(patches[i])|int(patches[i+1])<<8] = patches[i+2]
		}
		clear(mem[hLock : hLock+8]) // a lock held by a live process is a wait, which ctx bounds
		fd, err := unix.MemfdCreate("fuzz", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Fatal(err)
		}
		unix.Write(fd, mem)
		unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK)
		tb, err := Attach(fd)
		if err != nil {
			return
		}
		defer tb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tb.Check(ctx)
		// What a process taking the lock from a dead owner does: replay the undo log, rebuild.
		tb.Locked(ctx, func(tx *Tx) error { return tx.t.recover() })
		for i := range 12 {
			k := fmt.Appendf(nil, "k%d", i)
			tb.Get(ctx, k, nil)
			tb.Set(ctx, k, make([]byte, i*40))
			tb.CompareAndSwap(ctx, k, nil, uint64(i))
			if i%3 == 0 {
				tb.Delete(ctx, fmt.Appendf(nil, "k%d", i/2))
			}
		}
		tb.Len(ctx)
		tb.Range(ctx, func(k, v []byte, rev uint64) bool { return true })
		tb.Locked(ctx, func(tx *Tx) error {
			tx.Range(func(k, v []byte, rev uint64) bool {
				tx.Peek(k)
				return true
			})
			return nil
		})
		tb.Locked(ctx, func(tx *Tx) error {
			tx.Set([]byte("k1"), []byte("rolled back"))
			tx.Delete([]byte("k5"))
			return context.Canceled
		})
		tb.Check(ctx)
		tb.Clear(ctx)
		tb.Set(ctx, []byte("x"), []byte("y"))
		tb.Check(ctx)
	})
}

// fuzzBase returns the memory of a small table in use: entries, deleted slots, free blocks.
func fuzzBase(f *testing.F) []byte {
	tb, err := Create(Options{MaxSize: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	defer tb.Close()
	ctx := context.Background()
	for i := range 30 {
		tb.Set(ctx, fmt.Appendf(nil, "k%d", i), make([]byte, i*13))
	}
	for i := 0; i < 30; i += 4 {
		tb.Delete(ctx, fmt.Appendf(nil, "k%d", i))
	}
	tb.Set(ctx, []byte("k1"), make([]byte, 500))
	tb.Locked(ctx, func(tx *Tx) error { // leaves an undo log block behind
		_, err := tx.Set([]byte("k2"), []byte("batch"))
		return err
	})
	if err := tb.Check(ctx); err != nil {
		f.Fatal(err)
	}
	size, _ := tb.Size(ctx)
	if size != minSize {
		f.Fatalf("the base table is %d bytes; the fuzz patches address 64 KiB", size)
	}
	return append([]byte(nil), tb.mem[:size]...)
}
