package mp

import (
	"bytes"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
	"github.com/mp-go/mp/internal/shm"
	"github.com/mp-go/mp/internal/sys"
)

// Big values travel through shared memory. A []byte, a string or a slice of plain numbers of
// BulkThreshold bytes or more — a task argument or result, or a struct field, slice element or
// pointer target inside one, or the same in a Conn message — is copied once into a new anonymous
// shared memory segment (a memfd on Linux, sealed once written so that its size and bytes can
// never change), and the message carries the segment's descriptor instead of the bytes, as it
// carries a handle's: a handleRef of kind "bulk" whose Meta is the value's size in bytes. The
// receiver checks that one descriptor arrived for it, that the segment's real size (fstat) is the
// size announced and a whole number of the slot's elements, and that the slot is of a type a bulk
// value may fill, before it allocates anything; it closes the descriptor on every path. A
// receiver therefore never allocates more than the sender put into a segment.
//
// The receiver's value is ordinary Go memory, garbage collected as any other. When the segment
// is sealed (fillMemory), its pages are mapped over that memory, privately: the value reads the
// very pages the sender wrote, shared by every receiver, and a write to it copies the one page it
// touches, so that the value behaves as the receiver's own. Its finalizer puts ordinary memory
// back before the collector frees it. A segment that is not sealed (from another platform, or a
// hostile sender, who could shrink a mapped segment and crash its readers) is read with pread.
//
// The sender keeps the segment of a value it encoded in a small cache, keyed by the value's
// address, length and type, and checks the bytes against the segment on a hit (a memcmp, no
// allocation): N pending calls with the same big argument cost one segment, not N copies, and
// a value changed in place between two calls is encoded anew. The cache holds at most
// bulkCacheEntries segments of bulkCacheBytes in all, and lets go of a segment bulkCacheIdle after
// its last use; a message sent keeps its segment alive by its own descriptor until it is
// delivered, whatever the cache does.
//
// Results travel the same way — a pool task's, a Map chunk's, mp.Run's: the child sends the
// segments' descriptors on its control socket ahead of its reply (reply_fds.go), and the reply
// says how many there are. Where the platform has no shared memory segments (Windows) the value
// is encoded inline, as it is inside a value behind an interface (a field of type any) or a map,
// and in Call.Arg and the Result an Executor's done func gets, whose bytes may leave the machine.
// A Queue item is copied into the queue's own shared memory buffer and out of it.

// BulkThreshold is the size, in bytes, from which a []byte, string or slice of plain numbers in a
// task argument or result (of a pool call, a Map chunk or mp.Run) or a Conn message travels
// through shared memory instead of inside the message: 64 KiB. A segment costs a few system calls
// (memfd_create, ftruncate, pwrite, fcntl, mmap on the sender's side; fstat, then pread or mmap
// on the receiver's: tens of microseconds); from 64 KiB on, that is less than what it saves: the
// copies of the encoding, the pipe transfer (64 KiB at a time, each a wake-up of the reader) and
// the decoding, and the encoded copy that a queued call holds until a worker takes it.
// BenchmarkBulkApply in bulk_internal_test.go measures the round trip of an Apply both ways: on
// a 2-core Linux VM the two meet between 32 and 64 KiB, and by shared memory a 256 KiB argument
// takes a third of the time (0.33 ms against 0.70) and a 16 MiB one under a third.
const BulkThreshold = 64 << 10

// bulkThreshold is BulkThreshold, as a variable that the benchmarks of the threshold move.
var bulkThreshold = BulkThreshold

const (
	bulkCacheEntries = 4
	bulkCacheBytes   = 1 << 30
	bulkCacheIdle    = 2 * time.Second
)

// bulkKind is the Kind of a handleRef that carries a bulk value.
const bulkKind = "bulk"

// bulkElem returns the size of the elements of t when values of t may travel as bulk values:
// []byte, string, or a slice of plain numbers.
func bulkElem(t reflect.Type) (int, bool) {
	switch {
	case t.Kind() == reflect.String:
		return 1, true
	case t.Kind() == reflect.Slice && plainType(t.Elem()) && t.Elem().Size() > 0:
		return int(t.Elem().Size()), true
	}
	return 0, false
}

// mayBulkCache caches mayBulk by type.
var mayBulkCache sync.Map // reflect.Type → bool

// mayBulk reports whether a value of type t can contain a value that travels as a bulk value.
func mayBulk(t reflect.Type) bool {
	if v, ok := mayBulkCache.Load(t); ok {
		return v.(bool)
	}
	mayBulkCache.Store(t, false) // while computing, as mayHold
	r := computeMayBulk(t)
	mayBulkCache.Store(t, r)
	return r
}

func computeMayBulk(t reflect.Type) bool {
	if _, ok := bulkElem(t); ok {
		return true
	}
	if isHandleType(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayBulk(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && mayBulk(f.Type) {
				return true
			}
		}
	}
	return false
}

// bulkBytes returns the memory of v, a value of a bulk type.
func bulkBytes(v reflect.Value) []byte {
	if v.Kind() == reflect.String {
		s := v.String()
		return unsafe.Slice(unsafe.StringData(s), len(s))
	}
	n := v.Len() * int(v.Type().Elem().Size())
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(v.UnsafePointer()), n)
}

// addBulk puts the bytes of v, a value of a bulk type of at least BulkThreshold bytes, into a
// shared memory segment and records a duplicate of its descriptor at path. It reports false,
// with nothing recorded, when the platform has no segments: v then travels inline.
func addBulk(v reflect.Value, path []int, where string, out *outHandles) (bool, error) {
	if len(out.fds) >= sys.MaxFDs {
		return false, nil // no room for another descriptor: inline
	}
	b := bulkBytes(v)
	fd, err := bulkCache.segment(b, v.Type())
	if err == shm.ErrNotSupported {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %s: a shared memory segment for %d bytes: %v", ErrEncode, where, len(b), err)
	}
	out.refs = append(out.refs, handleRef{Path: path, Kind: bulkKind, Meta: strconv.Itoa(len(b))})
	out.fds = append(out.fds, fd)
	out.bulks++
	bulkSince.Add(int64(len(b)))
	return true, nil
}

// bulkSince counts the bytes of the big values decoded or encoded since a worker last collected
// (collectAfterBulk).
var bulkSince atomic.Int64

// bulkCollectBytes is how many bytes of big values a worker's calls receive or send between two
// collections that collectAfterBulk forces.
const bulkCollectBytes = 32 << 20

// collectAfterBulk runs a collection in a worker whose calls have received or sent
// bulkCollectBytes of big values since the last one: those values are garbage once their calls
// are over, and collecting them at once lets the next call's value reuse their memory (and
// releases the segments mapped for them) instead of growing the heap to twice its size (GOGC's
// default) before the collector runs. A forced collection costs a few milliseconds on a loaded
// machine, whatever the heap holds: after every call with a 64 KiB value, it would be most of
// the call's time, hence the budget.
func collectAfterBulk() {
	if bulkSince.Load() >= bulkCollectBytes {
		bulkSince.Store(0)
		runtime.GC()
	}
}

// bulkEntry is a segment of the cache.
type bulkEntry struct {
	ptr  uintptr // the value's address: compared, never followed, so the entry keeps nothing alive
	n    int
	t    reflect.Type
	seg  *shm.Segment
	last time.Time
}

// bulkSegments is the sender's cache of segments (see the comment at the top of this file).
type bulkSegments struct {
	mu      sync.Mutex
	entries []*bulkEntry
	timer   *time.Timer
}

var bulkCache bulkSegments

// segment returns a new descriptor of a segment holding b, the memory of a value of type t.
func (c *bulkSegments) segment(b []byte, t reflect.Type) (int, error) {
	ptr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if e.ptr == ptr && e.n == len(b) && e.t == t {
			if bytes.Equal(e.seg.Mem, b) {
				e.last = time.Now()
				return e.seg.Dup()
			}
			c.drop(i) // changed in place since: encode it anew
			break
		}
	}
	seg, err := shm.CreateSealed("mp-bulk", b)
	if err != nil {
		return -1, err
	}
	fd, err := seg.Dup()
	if err != nil {
		seg.Close()
		return -1, err
	}
	total := len(b)
	for _, e := range c.entries {
		total += e.n
	}
	for len(c.entries) > 0 && (len(c.entries) >= bulkCacheEntries || total > bulkCacheBytes) {
		total -= c.entries[0].n
		c.drop(0) // the oldest
	}
	if len(b) <= bulkCacheBytes {
		// The entry keeps the value's address only: a value that is garbage and whose memory is
		// reused for another is told apart by the comparison of its bytes.
		c.entries = append(c.entries, &bulkEntry{ptr: ptr, n: len(b), t: t, seg: seg, last: time.Now()})
		if c.timer == nil {
			c.timer = time.AfterFunc(bulkCacheIdle, c.expire)
		}
	} else {
		seg.Close()
	}
	return fd, nil
}

// drop lets go of entry i. The caller holds c.mu.
func (c *bulkSegments) drop(i int) {
	c.entries[i].seg.Close()
	c.entries = append(c.entries[:i], c.entries[i+1:]...)
}

// expire lets go of the segments unused for bulkCacheIdle.
func (c *bulkSegments) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for i := 0; i < len(c.entries); {
		if now.Sub(c.entries[i].last) >= bulkCacheIdle {
			c.drop(i)
		} else {
			i++
		}
	}
	c.timer = nil
	if len(c.entries) > 0 {
		c.timer = time.AfterFunc(bulkCacheIdle, c.expire)
	}
}

// fillBulk builds the bulk value described by ref from fds (which it owns) and stores it in slot.
func fillBulk(slot reflect.Value, ref handleRef, fds []int) error {
	defer closeFDs(fds)
	if len(fds) != 1 {
		return fmt.Errorf("a bulk value with %d descriptors", len(fds))
	}
	for slot.Kind() == reflect.Pointer {
		if slot.IsNil() {
			// The encoder's copy holds a pointer to a nil slice, which CBOR carries as nil.
			slot.Set(reflect.New(slot.Type().Elem()))
		}
		slot = slot.Elem()
	}
	st := slot.Type()
	elem, ok := bulkElem(st)
	if !ok {
		return fmt.Errorf("a bulk value arrived where the receiver has a %s", st)
	}
	size, err := strconv.Atoi(ref.Meta)
	if err != nil || size <= 0 || size%elem != 0 {
		return fmt.Errorf("a bulk value of size %q for a %s", ref.Meta, st)
	}
	// The size was checked against the segment's before anything is allocated.
	if err := checkBulkSize(fds[0], size); err != nil {
		return err
	}
	p := bulkAlloc(size)
	if err := fillMemory(fds[0], p, size); err != nil {
		return err
	}
	bulkSince.Add(int64(size))
	if st.Kind() == reflect.String {
		slot.SetString(unsafe.String((*byte)(p), size))
		return nil
	}
	slot.Set(reflect.SliceAt(st.Elem(), p, size/elem))
	return nil
}

// bulkMapMin is the smallest bulk value mapped rather than read: below it, a read costs less
// than the mapping and its undoing. It is larger than the largest small object of the Go
// allocator (32 KiB), so a value mapped is always an allocation of its own that starts on a page.
const bulkMapMin = 256 << 10

// bulkAlloc returns the address of n new bytes of Go memory, not zeroed: the caller fills every
// byte. The memory holds no pointers, so it may hold the elements of any plain number type, and
// it is garbage collected as any other value.
func bulkAlloc(n int) unsafe.Pointer {
	// strings.Builder.Grow allocates without zeroing (as bytealg.MakeNoZero): a mapped value's
	// pages are never touched before the segment's pages replace them.
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteByte(0)
	return unsafe.Pointer(unsafe.StringData(sb.String()))
}

// fillMemory fills the size bytes at p, from bulkAlloc, with the segment fd, checked by
// checkBulkSize. A frozen segment (sealed by its sender: its size and bytes can never change) of
// bulkMapMin bytes or more is mapped over the memory, copy on write: the value's pages are the
// segment's, shared with the sender and every other receiver, not a copy, and a write to the
// value copies only the page it touches. The finalizer of the memory puts ordinary memory back
// in place before the collector frees it, so the mapping lives exactly as long as the value, as
// any Go memory does. Any other segment is read into the memory with pread.
func fillMemory(fd int, p unsafe.Pointer, size int) error {
	if size >= bulkMapMin && shm.Frozen(fd) && shm.MapOver(fd, p, size) {
		runtime.SetFinalizer((*byte)(p), func(b *byte) {
			shm.UnmapOver(unsafe.Pointer(b), size)
			bulkUnmapped.Add(1)
		})
		bulkMapped.Add(1)
		return nil
	}
	return readBulk(fd, unsafe.Slice((*byte)(p), size))
}

// bulkMapped and bulkUnmapped count the bulk values mapped rather than read, and those whose
// memory was given back, for the tests.
var bulkMapped, bulkUnmapped atomic.Int64

// decodeResult decodes a task's result, b with the descriptors of its segments fds (which it
// owns), into *v. A result carries bulk values only: a reference of another kind, which a worker
// never sends, is an ErrDecode error.
func decodeResult[T any](what string, b []byte, fds []int, v *T) error {
	if hasHandles(b) {
		var tag cbor.RawTag
		var env envelope
		if codecDec.Unmarshal(b, &tag) == nil && codecDec.Unmarshal(tag.Content, &env) == nil {
			for _, ref := range env.Refs {
				if ref.Kind != bulkKind {
					closeFDs(fds)
					return fmt.Errorf("%w: %s: a handle (%s) in a result", ErrDecode, what, ref.describe())
				}
			}
		}
	}
	return decodeArg(what, b, fds, v)
}
