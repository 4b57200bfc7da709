package mp

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/mp-go/mp/internal/shm"
)

// SharedMemory is a block of memory shared by processes: Python's
// multiprocessing.shared_memory.SharedMemory. Make one with CreateSharedMemory — anonymous (name
// "") or named — and reach it from another process either as a handle in a task argument (both
// kinds) or, for a named one, with OpenSharedMemory.
//
// Ownership is explicit, to avoid Python's resource-tracker bug (which unlinks a segment when any
// process that merely opened it exits): nothing ever unlinks a named segment but Unlink or
// RemoveSharedMemory. Its creator should Unlink it when done; a segment left by a program that
// crashed first can be found with LeakedSharedMemory. An anonymous segment goes away with the last
// process that maps it.
//
// Named segments are files in /dev/shm on Linux (in a directory under os.TempDir elsewhere).
type SharedMemory struct {
	seg     *shm.Segment
	name    string
	created bool
	closed  atomic.Bool
}

// CreateSharedMemory makes a zero-filled segment of size bytes. With a name, it fails with an
// error matching fs.ErrExist if a segment of that name exists; "" makes an anonymous segment.
func CreateSharedMemory(name string, size int) (*SharedMemory, error) {
	guardChild()
	if size <= 0 || size > 1<<40 {
		return nil, fmt.Errorf("%w: shared memory size %d; it must be positive", ErrInvalidOption, size)
	}
	if name == "" {
		seg, err := shm.CreateAnon("mp-shm", size)
		if err != nil {
			return nil, fmt.Errorf("mp: CreateSharedMemory: %w", err)
		}
		if len(seg.Mem) != size {
			seg.Mem = seg.Mem[:size]
		}
		return newSharedMemory(seg, "", true), nil
	}
	name, err := shmName(name)
	if err != nil {
		return nil, err
	}
	seg, err := createNamed(name, size)
	if err != nil {
		return nil, fmt.Errorf("mp: CreateSharedMemory(%q): %w", name, err)
	}
	return newSharedMemory(seg, name, true), nil
}

// OpenSharedMemory maps the named segment. size 0 accepts its size as it is; a positive size must
// match it. A segment that does not exist is an error matching fs.ErrNotExist. Opening never
// makes this process responsible for unlinking.
func OpenSharedMemory(name string, size int) (*SharedMemory, error) {
	guardChild()
	if size < 0 {
		return nil, fmt.Errorf("%w: shared memory size %d", ErrInvalidOption, size)
	}
	name, err := shmName(name)
	if err != nil {
		return nil, err
	}
	seg, err := openNamed(name)
	if err != nil {
		return nil, fmt.Errorf("mp: OpenSharedMemory(%q): %w", name, err)
	}
	if size > 0 && len(seg.Mem) != size {
		seg.Close()
		return nil, fmt.Errorf("%w: OpenSharedMemory(%q, %d): the segment has %d bytes", ErrInvalidOption, name, size, len(seg.Mem))
	}
	return newSharedMemory(seg, name, false), nil
}

func newSharedMemory(seg *shm.Segment, name string, created bool) *SharedMemory {
	m := &SharedMemory{seg: seg, name: name, created: created}
	// Bytes hands out the mapping itself, which the collector cannot see: a slice of it may be in
	// use long after m is garbage. So only the descriptor goes with m; the mapping stays until
	// Close.
	runtime.AddCleanup(m, (*shm.Segment).CloseFD, seg)
	return m
}

// shmName checks a segment name: POSIX style, an optional leading "/" and no other.
func shmName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	switch {
	case n == "" || n == "." || n == "..":
		return "", fmt.Errorf("%w: shared memory name %q; give a non-empty name (or \"\" to CreateSharedMemory for an anonymous segment)", ErrInvalidOption, name)
	case len(n) > 200 || strings.ContainsAny(n, "/\x00") || strings.HasPrefix(n, ownerPrefix):
		return "", fmt.Errorf("%w: shared memory name %q: at most 200 bytes, no \"/\" but a leading one, no NUL, not starting with %q", ErrInvalidOption, name, ownerPrefix)
	}
	return n, nil
}

// Bytes returns the segment's memory. It stays valid until Close, even if m itself is no longer
// referenced (a segment dropped without Close stays mapped until the process exits); it must not be
// used after Close.
func (m *SharedMemory) Bytes() []byte {
	if m == nil || m.closed.Load() {
		return nil
	}
	return m.seg.Mem
}

// Size returns the segment's size in bytes.
func (m *SharedMemory) Size() int {
	if m == nil {
		return 0
	}
	return len(m.seg.Mem)
}

// Name returns the segment's name, "" for an anonymous one.
func (m *SharedMemory) Name() string { return m.name }

// Close unmaps the segment from this process; it stays for the others (and, if named, until
// unlinked). Close is idempotent.
func (m *SharedMemory) Close() error {
	if m == nil || m.closed.Swap(true) {
		return nil
	}
	return m.seg.Close()
}

// Unlink removes the segment's name, so that nobody can open it again; the memory goes once
// every process has closed it. Its creator should call it (Close does not). It does nothing for
// an anonymous segment.
func (m *SharedMemory) Unlink() error {
	if m == nil || m.name == "" {
		return nil
	}
	return RemoveSharedMemory(m.name)
}

func (m *SharedMemory) handleDup() (int, string, error) {
	if m == nil || m.closed.Load() {
		return -1, "", fmt.Errorf("%w: a closed *mp.SharedMemory", ErrClosed)
	}
	fd, err := m.seg.Dup()
	return fd, kindNames[kindShm] + "\x00" + m.name, err
}

func (*SharedMemory) handleAdopt(fd int, meta string) (any, error) {
	kind, name, _ := strings.Cut(meta, "\x00")
	if kind != kindNames[kindShm] {
		closeFD(fd)
		return nil, fmt.Errorf("a %s arrived where the receiver has a *mp.SharedMemory", kind)
	}
	seg, err := shm.Map(fd)
	if err != nil {
		return nil, err
	}
	return newSharedMemory(seg, name, false), nil
}

// MarshalCBOR refuses to encode a SharedMemory outside a task argument or a Conn's Send.
func (m *SharedMemory) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindShm) }

// Number is the element type of a Value or an Array: a number of 4 or 8 bytes.
type Number interface {
	~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64 | ~uintptr | ~float32 | ~float64
}

// Value is a number in shared memory: Python's multiprocessing.Value. Load, Store, Add and
// CompareAndSwap are atomic; Lock and Unlock (a robust Mutex of its own, Python's get_lock())
// guard compound updates. Methods panic with ErrClosed after Close.
type Value[T Number] struct {
	s    *shared
	lock *uint32
	p    unsafe.Pointer
}

const valueAt = offWords + 64

// NewValue makes a Value holding initial.
func NewValue[T Number](initial T) (*Value[T], error) {
	s, err := newShared(kindValue, 0)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint32(s.word(valueAt-4), uint32(unsafe.Sizeof(initial)))
	v := newValue[T](s)
	v.Store(initial)
	return v, nil
}

func newValue[T Number](s *shared) *Value[T] {
	return track(&Value[T]{s: s, lock: s.word(offWords), p: unsafe.Pointer(&s.mem[valueAt])}, s)
}

func is64[T Number]() bool { var z T; return unsafe.Sizeof(z) == 8 }

func isFloat[T Number]() bool {
	var z T
	z = 1
	z /= 2
	return z != 0
}

func toBits[T Number](x T) uint64 {
	if is64[T]() {
		return *(*uint64)(unsafe.Pointer(&x))
	}
	return uint64(*(*uint32)(unsafe.Pointer(&x)))
}

func fromBits[T Number](b uint64) T {
	var x T
	if is64[T]() {
		*(*uint64)(unsafe.Pointer(&x)) = b
	} else {
		*(*uint32)(unsafe.Pointer(&x)) = uint32(b)
	}
	return x
}

func (v *Value[T]) loadBits() uint64 {
	if is64[T]() {
		return atomic.LoadUint64((*uint64)(v.p))
	}
	return uint64(atomic.LoadUint32((*uint32)(v.p)))
}

func (v *Value[T]) casBits(old, nw uint64) bool {
	if is64[T]() {
		return atomic.CompareAndSwapUint64((*uint64)(v.p), old, nw)
	}
	return atomic.CompareAndSwapUint32((*uint32)(v.p), uint32(old), uint32(nw))
}

// Load returns the value.
func (v *Value[T]) Load() T {
	v.s.mustCheck()
	return fromBits[T](v.loadBits())
}

// Store sets the value.
func (v *Value[T]) Store(x T) {
	v.s.mustCheck()
	if is64[T]() {
		atomic.StoreUint64((*uint64)(v.p), toBits(x))
	} else {
		atomic.StoreUint32((*uint32)(v.p), uint32(toBits(x)))
	}
}

// Add adds delta to the value and returns the new value.
func (v *Value[T]) Add(delta T) T {
	v.s.mustCheck()
	if !isFloat[T]() {
		if is64[T]() {
			return fromBits[T](atomic.AddUint64((*uint64)(v.p), toBits(delta)))
		}
		return fromBits[T](uint64(atomic.AddUint32((*uint32)(v.p), uint32(toBits(delta)))))
	}
	for {
		old := v.loadBits()
		nw := fromBits[T](old) + delta
		if v.casBits(old, toBits(nw)) {
			return nw
		}
	}
}

// CompareAndSwap sets the value to nw if it is old, and reports whether it did. Floats compare by
// their bits.
func (v *Value[T]) CompareAndSwap(old, nw T) bool {
	v.s.mustCheck()
	return v.casBits(toBits(old), toBits(nw))
}

// Lock locks the Value's own mutex (see Mutex.Lock for ErrOwnerDead).
func (v *Value[T]) Lock(ctx context.Context) error { return lockOwned(ctx, v.s, v.lock) }

// Unlock unlocks the Value's mutex; it panics if it is not locked.
func (v *Value[T]) Unlock() {
	v.s.mustCheck()
	if !unlockWord(v.lock) {
		panic("mp: Unlock of unlocked Value")
	}
}

// Close releases this process's hold on v.
func (v *Value[T]) Close() error { return v.s.close() }

func (v *Value[T]) handleDup() (int, string, error) {
	if v == nil {
		return -1, "", (*shared)(nil).check()
	}
	return v.s.dup()
}

func (*Value[T]) handleAdopt(fd int, meta string) (any, error) {
	s, err := adoptShared(fd, meta, kindValue)
	if err != nil {
		return nil, err
	}
	var z T
	if got := atomic.LoadUint32(s.word(valueAt - 4)); got != uint32(unsafe.Sizeof(z)) {
		s.seg.Close()
		return nil, fmt.Errorf("a Value of %d-byte numbers arrived where the receiver has a %d-byte %T", got, unsafe.Sizeof(z), z)
	}
	return newValue[T](s), nil
}

// MarshalCBOR refuses to encode a Value outside a task argument or a Conn's Send.
func (v *Value[T]) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindValue) }

// Array is an array of numbers in shared memory: Python's multiprocessing.Array. Slice is a view
// of the shared memory itself — writes are seen by every process — and Lock and Unlock (a robust
// Mutex of its own) guard compound updates. Use sync/atomic on the elements for single-word
// atomic updates.
type Array[T Number] struct {
	s    *shared
	lock *uint32
	data []T
}

const arrayAt = 256

// NewArray makes a zero-filled array of n numbers.
func NewArray[T Number](n int) (*Array[T], error) {
	var z T
	if n < 0 || uint64(n)*uint64(unsafe.Sizeof(z)) > 1<<40 {
		return nil, fmt.Errorf("%w: array length %d", ErrInvalidOption, n)
	}
	s, err := newShared(kindArray, arrayAt+n*int(unsafe.Sizeof(z)))
	if err != nil {
		return nil, err
	}
	atomic.StoreUint64(s.word64(offWords+64), uint64(n))
	atomic.StoreUint32(s.word(offWords+72), uint32(unsafe.Sizeof(z)))
	return newArray[T](s)
}

func newArray[T Number](s *shared) (*Array[T], error) {
	var z T
	n := atomic.LoadUint64(s.word64(offWords + 64))
	size := uint64(atomic.LoadUint32(s.word(offWords + 72)))
	if size != uint64(unsafe.Sizeof(z)) || n > math.MaxInt32*8 || arrayAt+n*size > uint64(len(s.mem)) {
		s.seg.Close()
		return nil, fmt.Errorf("an Array of %d %d-byte numbers arrived where the receiver has an Array of %T", n, size, z)
	}
	var data []T
	if n > 0 {
		data = unsafe.Slice((*T)(unsafe.Pointer(&s.mem[arrayAt])), n)
	}
	a := &Array[T]{s: s, lock: s.word(offWords), data: data}
	// As for SharedMemory: a slice of the mapping may outlive a, so the mapping stays until Close.
	runtime.AddCleanup(a, (*shm.Segment).CloseFD, s.seg)
	return a, nil
}

// Slice returns the array's elements, in shared memory. The slice stays valid until Close, even
// if a itself is no longer referenced (an Array dropped without Close keeps its mapping until the
// process exits); it must not be used after Close.
func (a *Array[T]) Slice() []T {
	a.s.mustCheck()
	return a.data
}

// Len returns the number of elements.
func (a *Array[T]) Len() int { return len(a.data) }

// Lock locks the Array's own mutex (see Mutex.Lock for ErrOwnerDead).
func (a *Array[T]) Lock(ctx context.Context) error { return lockOwned(ctx, a.s, a.lock) }

// Unlock unlocks the Array's mutex; it panics if it is not locked.
func (a *Array[T]) Unlock() {
	a.s.mustCheck()
	if !unlockWord(a.lock) {
		panic("mp: Unlock of unlocked Array")
	}
}

// Close releases this process's hold on a.
func (a *Array[T]) Close() error { return a.s.close() }

func (a *Array[T]) handleDup() (int, string, error) {
	if a == nil {
		return -1, "", (*shared)(nil).check()
	}
	return a.s.dup()
}

func (*Array[T]) handleAdopt(fd int, meta string) (any, error) {
	s, err := adoptShared(fd, meta, kindArray)
	if err != nil {
		return nil, err
	}
	return newArray[T](s)
}

// MarshalCBOR refuses to encode an Array outside a task argument or a Conn's Send.
func (a *Array[T]) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindArray) }
