// Package shmtable is a hash table in shared memory, safe against processes killed in the
// middle of an operation: the local fast path of mp's managed Dict. Keys and values are byte
// strings (the caller encodes them); every entry carries a revision, a number that grows with
// every write to the table.
//
// # Layout
//
// A table is one memfd, mapped by every process that holds it. The first 4 KiB are the header:
// magic and version, the size limit, the file's current size, the robust lock
// (internal/lockword), the index word, the last revision given out, and the allocator's state.
// The rest is a heap of 16-byte-aligned blocks in size classes (four per power of two): the
// index — an open-addressing array of 64-bit slots, each 0 (empty), 1 (deleted) or a record's
// offset with 16 bits of its key's hash — and the records, each a 24-byte head (key length,
// value length, revision, hash) then the key and the value. A record is never written while
// the index refers to it.
//
// # Crash safety
//
// Every operation commits with one atomic store: a Set writes a new record in free space, then
// stores its offset in the key's slot, then frees the old record; a Delete stores 1 in the slot;
// the index grows by building a new array and storing the header's index word; Clear stores the
// word of a new, empty index. A process killed at any point therefore leaves the index and every
// record it refers to consistent, holding the operation whole or not at all. What it can leave
// wrong is derived state — the allocator's free lists, the entry and tombstone counts, the top
// of the heap — and blocks it had taken and not yet committed or freed. So when a process takes
// the lock over from a dead owner, it rebuilds all derived state from the index (recover): the
// live blocks are the index and the records it names; everything else in the heap is free. The
// operation that found the dead owner then runs, and returns ErrOwnerDead with its result.
// A Locked batch is made all or nothing by an undo log in the heap (undo.go), which recovery
// replays before it rebuilds.
//
// # Growth
//
// Every process maps MaxSize bytes of the file at Attach, though the file is smaller: the table
// grows by ftruncate alone, under the lock, and the header records the new size. No process
// remaps, so goroutines never hold a stale mapping, and no descriptor need travel again. The file
// is sealed against shrinking (F_SEAL_SHRINK), so no process can cut it under another's mapping;
// a process reads only below a size it has checked against fstat. Freed blocks go on their size
// class's free list and are reused; a larger free block is split; when the heap would grow while
// a quarter of it is free, the free space is coalesced first (the same rebuild as recovery).
//
// # Hostile memory
//
// Any process holding the descriptor can write anything into the table. Every offset, length and
// count read from shared memory is checked before use: a table broken that way returns ErrCorrupt
// from the operations that meet the damage, and never makes this process crash, hang or read
// outside the mapping. (It can make the table's contents wrong: the table trusts the processes
// that share it with its data, as a file trusts its writers.) A live process that holds the
// lock and never frees it makes the others wait: that wait, as every wait, ends with the
// caller's ctx.
package shmtable

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mp-go/mp/internal/lockword"
	"github.com/mp-go/mp/internal/procid"
)

const (
	magic   = 0x3174706d // "mpt1"
	version = 1

	hMagic     = 0
	hVersion   = 4
	hMaxSize   = 8  // uint64: the mapping's length; the file never grows past it
	hSize      = 16 // uint64: the file's size, grown under the lock
	hSeed      = 24 // uint64: the hash seed
	hLock      = 64 // uint64: the robust lock word, on a cache line of its own
	hIndex     = 128
	hRev       = 136 // uint64: the last revision given out
	hCount     = 144 // uint64: live entries (derived)
	hTombs     = 152 // uint64: deleted slots (derived)
	hTop       = 160 // uint64: end of the heap's used part (derived)
	hFree      = 168 // uint64: bytes on free lists (derived)
	hRecovered = 176 // uint64: how many times the table was recovered from a dead owner
	hOps       = 200 // uint64: the users' operation counter (CountOp); the table does not use it
	hHeads     = 256 // uint64 per size class: the head of its free list (derived)
	heapStart  = 4096

	recHead   = 24 // klen uint32, vlen uint32, rev uint64, hash uint64
	slotEmpty = 0
	slotTomb  = 1
	offMask   = 1<<48 - 1

	minIndexLog = 4

	// DefaultMaxSize is the size limit of a table made without one.
	DefaultMaxSize = 1 << 30
	// MaxMaxSize is the largest size limit a table may have.
	MaxMaxSize = 1 << 40
	minSize    = 64 << 10
)

// Options configure Create.
type Options struct {
	// InitialSize is the file's size at first, in bytes: 64 KiB when 0. The table grows past it.
	InitialSize int64
	// MaxSize is the size limit, in bytes: DefaultMaxSize (1 GiB) when 0, at most MaxMaxSize.
	// Every process that attaches maps this much address space (it costs no memory until used).
	// An operation that would need more returns ErrFull.
	MaxSize int64
}

// Table is one process's handle on a shared memory table. It is safe for concurrent use by
// goroutines; the lock that serialises them also serialises processes. Its descriptor (FD) may be
// passed to another process, which Attaches it. Every operation takes the lock (a
// compare-and-swap when it is free): a Get of a small entry costs about 150 ns, a Set about
// 250 ns, with no allocation (Get appends to the caller's buffer); with a second process
// hammering the same table, 270 to 450 ns (go test -bench . ./internal/shmtable).
type Table struct {
	mu     sync.RWMutex // held for reading by operations, for writing by Close
	closed atomic.Bool
	fd     int
	mem    []byte // MaxSize bytes of mapping; only the first size are backed
	max    uint64
	size   uint64 // the file's size, as last checked (read and written under the lock)
	seed   uint64
	id     uint64
	tx     Tx      // the transaction of the goroutine holding the lock (used under the lock)
	frees  []block // records a batch replaced or deleted: freed when it commits
	allocs []block // records a batch wrote: freed if it is rolled back
	sorted []span  // scratch of rebuild
}

// Create makes a new, empty table in a memfd. Close it when done; the memory is freed when the
// last process that has it closes it (or exits).
func Create(opts Options) (*Table, error) {
	maxSize := opts.MaxSize
	if maxSize == 0 {
		maxSize = DefaultMaxSize
	}
	size := opts.InitialSize
	if size == 0 {
		size = minSize
	}
	if maxSize < minSize || maxSize > MaxMaxSize || uint64(maxSize) > math.MaxInt {
		return nil, fmt.Errorf("%w: MaxSize %d; it must be between %d and %d", ErrInvalid, maxSize, minSize, int64(MaxMaxSize))
	}
	if size < minSize || size > maxSize {
		return nil, fmt.Errorf("%w: InitialSize %d; it must be between %d and MaxSize (%d)", ErrInvalid, size, minSize, maxSize)
	}
	size = (size + 4095) &^ 4095
	fd, err := newFile(size)
	if err != nil {
		return nil, err
	}
	mem, err := mapFile(fd, int(maxSize))
	if err != nil {
		closeFD(fd)
		return nil, err
	}
	var seed [8]byte
	rand.Read(seed[:])
	ne := binary.NativeEndian
	ne.PutUint64(mem[hMaxSize:], uint64(maxSize))
	ne.PutUint64(mem[hSize:], uint64(size))
	ne.PutUint64(mem[hSeed:], ne.Uint64(seed[:])|1)
	// The first index: at the heap's start, 16 slots, all empty.
	ne.PutUint64(mem[hTop:], heapStart+16*8)
	ne.PutUint64(mem[hIndex:], indexWord(heapStart, minIndexLog))
	ne.PutUint32(mem[hVersion:], version)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[hMagic])), magic)
	t := &Table{fd: fd, mem: mem, max: uint64(maxSize), size: uint64(size), seed: ne.Uint64(mem[hSeed:]), id: uint64(procid.Self())}
	t.tx.t = t
	return t, nil
}

// Attach maps the table whose descriptor fd was received from another process. Attach owns fd
// from then on (it is closed on error, and by Close). The header is checked: a descriptor that is
// not a table of this version, or whose sizes do not agree with the file, is an error wrapping
// ErrNotTable, and nothing is mapped.
func Attach(fd int) (*Table, error) {
	if fd < 0 {
		return nil, fmt.Errorf("%w: descriptor %d", ErrInvalid, fd)
	}
	fsize, err := checkFile(fd)
	if err != nil {
		closeFD(fd)
		return nil, err
	}
	if fsize < minSize || fsize > MaxMaxSize {
		closeFD(fd)
		return nil, fmt.Errorf("%w: the file is %d bytes", ErrNotTable, fsize)
	}
	head, err := mapFile(fd, heapStart)
	if err != nil {
		closeFD(fd)
		return nil, err
	}
	ne := binary.NativeEndian
	mg, ver := atomic.LoadUint32((*uint32)(unsafe.Pointer(&head[hMagic]))), ne.Uint32(head[hVersion:])
	maxSize, size := ne.Uint64(head[hMaxSize:]), atomic.LoadUint64((*uint64)(unsafe.Pointer(&head[hSize])))
	seed := ne.Uint64(head[hSeed:])
	unmap(head)
	switch {
	case mg != magic || ver != version:
		closeFD(fd)
		return nil, fmt.Errorf("%w: magic %#x version %d (want %#x version %d)", ErrNotTable, mg, ver, magic, version)
	case maxSize < minSize || maxSize > MaxMaxSize || maxSize > math.MaxInt || uint64(fsize) > maxSize || size < minSize || size > uint64(fsize):
		closeFD(fd)
		return nil, fmt.Errorf("%w: the header's sizes (%d of at most %d) do not fit a file of %d bytes", ErrNotTable, size, maxSize, fsize)
	}
	mem, err := mapFile(fd, int(maxSize))
	if err != nil {
		closeFD(fd)
		return nil, err
	}
	t := &Table{fd: fd, mem: mem, max: maxSize, size: size, seed: seed, id: uint64(procid.Self())}
	t.tx.t = t
	return t, nil
}

// FD returns the table's descriptor, to pass to another process (which Attaches a duplicate of
// it). It stays the Table's: do not close it. It is -1 after Close.
func (t *Table) FD() int {
	if t == nil || t.closed.Load() {
		return -1
	}
	return t.fd
}

// Dup returns a new close-on-exec descriptor of the table, for Attach or to pass on.
func (t *Table) Dup() (int, error) {
	if err := t.enter(); err != nil {
		return -1, err
	}
	defer t.mu.RUnlock()
	return dupFD(t.fd)
}

// Close unmaps the table and closes its descriptor, after the operations in flight in this
// process end (an operation waiting for the lock ends when it has it, or its ctx ends). The
// table lives on in other processes that hold it. Close is idempotent and does nothing on nil.
func (t *Table) Close() error {
	if t == nil || t.closed.Swap(true) {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	err := unmap(t.mem)
	closeFD(t.fd)
	t.mem, t.fd = nil, -1
	return err
}

// enter starts an operation: the table must not be closed. On success the caller holds t.mu for
// reading.
func (t *Table) enter() error {
	if t == nil || t.mem == nil && !t.closed.Load() {
		return fmt.Errorf("%w: a nil or zero shmtable.Table; make one with Create or Attach", ErrClosed)
	}
	t.mu.RLock()
	if t.closed.Load() {
		t.mu.RUnlock()
		return fmt.Errorf("%w: the table was closed; Attach it again to use it", ErrClosed)
	}
	return nil
}

func (t *Table) u64(off uint64) *uint64 { return (*uint64)(unsafe.Pointer(&t.mem[off])) }
func (t *Table) lockw() *uint64         { return t.u64(hLock) }

// lock enters and takes the table's lock; on success the caller must call unlock. ownerDead
// means the table was recovered from a dead owner first (err is nil then).
func (t *Table) lock(ctx context.Context) (ownerDead bool, err error) {
	if err := t.enter(); err != nil {
		return false, err
	}
	dead, err := lockword.Lock(ctx, t.lockw(), t.id)
	if err != nil {
		t.mu.RUnlock()
		return false, err
	}
	raceAcquire(unsafe.Pointer(t))
	if err := t.sync(); err != nil {
		t.unlock()
		return false, err
	}
	if dead {
		if err := t.recover(); err != nil {
			t.unlock()
			return true, err
		}
	}
	return dead, nil
}

func (t *Table) unlock() {
	raceRelease(unsafe.Pointer(t))
	lockword.Unlock(t.lockw())
	t.mu.RUnlock()
}

// sync brings this process's view of the file's size up to the header's, checking it against
// the file (so that no read goes past the file's end, whatever the header says).
func (t *Table) sync() error {
	size := atomic.LoadUint64(t.u64(hSize))
	if size == t.size {
		return nil
	}
	fsize, err := fileSize(t.fd)
	if err != nil {
		return err
	}
	if size < t.size || size > uint64(fsize) || size > t.max {
		return fmt.Errorf("%w: the header says the file is %d bytes; it is %d (and was %d)", ErrCorrupt, size, fsize, t.size)
	}
	t.size = size
	return nil
}

// result turns an operation's error and the lock's dead-owner report into the error to return.
func result(dead bool, err error) error {
	switch {
	case err != nil && dead:
		return fmt.Errorf("%w (and %w: the table was recovered first)", err, ErrOwnerDead)
	case err != nil:
		return err
	case dead:
		return fmt.Errorf("%w: the table was recovered; the operation completed", ErrOwnerDead)
	}
	return nil
}

// Get appends the value of key to dst and returns it with the entry's revision; found is false
// (and rev 0) when the table has no such key.
func (t *Table) Get(ctx context.Context, key, dst []byte) (val []byte, rev uint64, found bool, err error) {
	dead, err := t.lock(ctx)
	if err != nil {
		return dst, 0, false, err
	}
	defer t.unlock()
	val, rev, found, err = t.tx.get(key, dst)
	return val, rev, found, result(dead, err)
}

// Set stores val under key and returns the entry's new revision.
func (t *Table) Set(ctx context.Context, key, val []byte) (rev uint64, err error) {
	dead, err := t.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer t.unlock()
	rev, _, err = t.tx.set(key, val, 0, false)
	return rev, result(dead, err)
}

// CompareAndSwap stores val under key if the entry's revision is old (0: if the table has no
// such key), returning the new revision and true; otherwise it changes nothing and returns the
// current revision (0 if absent) and false.
func (t *Table) CompareAndSwap(ctx context.Context, key, val []byte, old uint64) (rev uint64, swapped bool, err error) {
	dead, err := t.lock(ctx)
	if err != nil {
		return 0, false, err
	}
	defer t.unlock()
	rev, swapped, err = t.tx.set(key, val, old, true)
	return rev, swapped, result(dead, err)
}

// Delete removes key, reporting whether it was there.
func (t *Table) Delete(ctx context.Context, key []byte) (found bool, err error) {
	dead, err := t.lock(ctx)
	if err != nil {
		return false, err
	}
	defer t.unlock()
	found, err = t.tx.del(key)
	return found, result(dead, err)
}

// Len returns the number of entries.
func (t *Table) Len(ctx context.Context) (int, error) {
	dead, err := t.lock(ctx)
	if err != nil {
		return 0, err
	}
	n := t.tx.len()
	t.unlock()
	return n, result(dead, nil)
}

// Clear removes every entry, committing with one store (a process killed in it leaves the table
// whole or empty), and returns the memory to the free lists.
func (t *Table) Clear(ctx context.Context) error {
	dead, err := t.lock(ctx)
	if err != nil {
		return err
	}
	defer t.unlock()
	err = t.tx.clear()
	return result(dead, err)
}

// Range calls fn for every entry of a snapshot of the table, taken under the lock at once: the
// entries as they were at one moment, in no particular order. fn runs without the lock (it may
// use the table); the slices it is given are its own until it returns. It stops when fn returns
// false. The snapshot is a copy of every key and value, so it costs the table's size in memory;
// Locked with Tx.Range iterates without copying.
func (t *Table) Range(ctx context.Context, fn func(key, val []byte, rev uint64) bool) error {
	dead, err := t.lock(ctx)
	if err != nil {
		return err
	}
	var buf []byte
	var ents []struct {
		k, v int
		rev  uint64
	}
	err = t.tx.rangeAll(func(k, v []byte, rev uint64) bool {
		buf = append(buf, k...)
		buf = append(buf, v...)
		ents = append(ents, struct {
			k, v int
			rev  uint64
		}{len(k), len(v), rev})
		return true
	})
	t.unlock()
	if err != nil {
		return result(dead, err)
	}
	off := 0
	for _, e := range ents {
		k := buf[off : off+e.k : off+e.k]
		v := buf[off+e.k : off+e.k+e.v : off+e.k+e.v]
		off += e.k + e.v
		if !fn(k, v, e.rev) {
			break
		}
	}
	return result(dead, nil)
}

// Locked runs fn with the table's lock held, so the operations of tx are atomic together with
// respect to every other process and goroutine: what GetMany, SetMany and an Update (read,
// compute, write) are built on. fn must not use t itself (the lock is held: it would wait for
// itself), nor keep tx after it returns. Locked returns fn's error.
//
// The batch is all or nothing: if fn returns an error (or panics), every write it made through
// tx is undone, and Locked returns the error; if its process is killed inside fn, the next
// locker undoes them (and gets ErrOwnerDead). Entries written back keep their old revisions;
// the revisions the batch used are not given out again. A batch costs, beyond its operations,
// 16 bytes of undo log in shared memory per write, and keeps the records it replaces until it
// ends.
func (t *Table) Locked(ctx context.Context, fn func(tx *Tx) error) (err error) {
	dead, err := t.lock(ctx)
	if err != nil {
		return err
	}
	t.tx.done, t.tx.batch = false, true
	ok := false
	defer func() {
		t.tx.done, t.tx.ranging, t.tx.batch = true, false, false
		if e := t.endBatch(ok); e != nil {
			if err == nil {
				err = e
			} else {
				err = fmt.Errorf("%w (and the batch could not be rolled back: %w)", err, e)
			}
		}
		t.unlock()
	}()
	err = fn(&t.tx)
	ok = err == nil
	return result(dead, err)
}

// CountOp adds one to the table's operation counter, a number in the header shared by every
// process that holds the table, for its users' statistics (mp's Dict counts the operations its
// clients run on the table themselves). The table neither uses it nor trusts it. It takes no lock:
// one atomic addition. It does nothing on a closed table.
func (t *Table) CountOp() {
	if t.enter() != nil {
		return
	}
	atomic.AddUint64(t.u64(hOps), 1)
	t.mu.RUnlock()
}

// Ops returns the table's operation counter (CountOp), 0 on a closed table.
func (t *Table) Ops() uint64 {
	if t.enter() != nil {
		return 0
	}
	defer t.mu.RUnlock()
	return atomic.LoadUint64(t.u64(hOps))
}

// Recovered returns how many times the table was recovered from a process that died holding its
// lock (over the table's life, in every process).
func (t *Table) Recovered(ctx context.Context) (uint64, error) {
	dead, err := t.lock(ctx)
	if err != nil {
		return 0, err
	}
	n := *t.u64(hRecovered)
	t.unlock()
	return n, result(dead, nil)
}

// Size returns the bytes of shared memory the table takes now (its file's size).
func (t *Table) Size(ctx context.Context) (int64, error) {
	dead, err := t.lock(ctx)
	if err != nil {
		return 0, err
	}
	n := t.size
	t.unlock()
	return int64(n), result(dead, nil)
}

// hash is the table's hash of key: a seeded multiply-mix over 8-byte words, the same in every
// process (the seed is in the header).
func hash(seed uint64, key []byte) uint64 {
	const m = 0x9e3779b97f4a7c15
	h := seed ^ uint64(len(key))*m
	for len(key) >= 8 {
		w := binary.LittleEndian.Uint64(key)
		h = bits.RotateLeft64((h^w)*m, 31)
		key = key[8:]
	}
	var w uint64
	for i, b := range key {
		w |= uint64(b) << (8 * i)
	}
	h = (h ^ w) * m
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func indexWord(off uint64, log uint) uint64 { return uint64(log)<<56 | off }
