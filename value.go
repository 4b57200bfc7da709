package mp

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/mp-go/mp/internal/shm"
)

// Number is the element type of a Value or an Array: a number of 4 or 8 bytes.
type Number interface {
	~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64 | ~uintptr | ~float32 | ~float64
}

// Value is a number in shared memory: Python's multiprocessing.Value. Load, Store, Add and
// CompareAndSwap are atomic; Lock and Unlock (a robust Mutex of its own, Python's get_lock())
// guard compound updates.
//
// A Value is safe for concurrent use by goroutines and processes. It is a handle (see the package
// doc): pass it to a child in a task or Process argument, or over a Conn (not on a Queue), and the
// child gets the same number; the receiver's T must have the sender's size. Load, Store, Add and
// CompareAndSwap are one atomic operation each: an Add takes about 20 ns on a 2-core Linux VM
// (BenchmarkValueAdd; on a float it is a compare-and-swap loop). It takes one page of shared
// memory.
type Value[T Number] struct {
	syncHandle
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
	return track(&Value[T]{syncHandle: syncHandle{s}, lock: s.word(offWords), p: unsafe.Pointer(&s.mem[valueAt])}, s)
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
	mustOpen(v.check())
	return fromBits[T](v.loadBits())
}

// Store sets the value.
func (v *Value[T]) Store(x T) {
	mustOpen(v.check())
	if is64[T]() {
		atomic.StoreUint64((*uint64)(v.p), toBits(x))
	} else {
		atomic.StoreUint32((*uint32)(v.p), uint32(toBits(x)))
	}
}

// Add adds delta to the value and returns the new value.
func (v *Value[T]) Add(delta T) T {
	mustOpen(v.check())
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
	mustOpen(v.check())
	return v.casBits(toBits(old), toBits(nw))
}

// Lock locks the Value's own mutex (see Mutex.Lock for ErrOwnerDead).
func (v *Value[T]) Lock(ctx context.Context) error {
	if err := v.check(); err != nil {
		return err
	}
	defer runtime.KeepAlive(v) // its cleanup unmaps v.lock: not while a Lock waits on it
	return lockOwned(ctx, v.s, kindValue, v.lock)
}

// Unlock unlocks the Value's mutex; it panics if it is not locked.
func (v *Value[T]) Unlock() {
	mustOpen(v.check())
	if !unlockWord(v.lock) {
		panic("mp: Unlock of unlocked Value")
	}
}

// Close releases this process's hold on v: its descriptor now, its page of memory once v is
// garbage. The number lives on in the other processes that hold it. Close is idempotent, and does
// nothing on a nil Value.
func (v *Value[T]) Close() error {
	if v == nil {
		return nil
	}
	return v.s.close()
}

// check returns the error of a method called on v when v is nil, zero or closed.
func (v *Value[T]) check() error {
	if v == nil {
		return (*shared)(nil).check(kindValue)
	}
	return v.s.check(kindValue)
}

func (*Value[T]) handleAdopt(fds []int, meta string) (any, error) {
	s, err := adoptShared(firstFD(fds), meta, kindValue)
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

// Array is an array of numbers in shared memory: Python's multiprocessing.Array. Slice is a view
// of the shared memory itself — writes are seen by every process — and Lock and Unlock (a robust
// Mutex of its own) guard compound updates. Use sync/atomic on the elements for single-word
// atomic updates.
//
// An Array is safe for concurrent use by goroutines and processes in the sense that its methods
// are; what the elements hold is the caller's to guard (with Lock, or atomics). It is a handle
// (see the package doc): pass it to a child in a task or Process argument, or over a Conn (not on
// a Queue), and the child gets the same memory; the receiver's T must have the sender's size. The
// elements are plain memory: reading and writing them costs what it costs in a Go slice. It takes
// 256 bytes of header plus its elements, rounded up to a page.
type Array[T Number] struct {
	syncHandle
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
	a := &Array[T]{syncHandle: syncHandle{s}, lock: s.word(offWords), data: data}
	// As for SharedMemory: a slice of the mapping may outlive a, so the mapping stays until Close.
	runtime.AddCleanup(a, (*shm.Segment).CloseFD, s.seg)
	return a, nil
}

// Slice returns the array's elements, in shared memory. The slice stays valid until the process
// exits, even once a is garbage or closed: an Array keeps its mapping, which the collector cannot
// track through the slice.
func (a *Array[T]) Slice() []T {
	mustOpen(a.check())
	return a.data
}

// Len returns the number of elements.
func (a *Array[T]) Len() int {
	mustOpen(a.check())
	return len(a.data)
}

// Lock locks the Array's own mutex (see Mutex.Lock for ErrOwnerDead).
func (a *Array[T]) Lock(ctx context.Context) error {
	if err := a.check(); err != nil {
		return err
	}
	return lockOwned(ctx, a.s, kindArray, a.lock)
}

// Unlock unlocks the Array's mutex; it panics if it is not locked.
func (a *Array[T]) Unlock() {
	mustOpen(a.check())
	if !unlockWord(a.lock) {
		panic("mp: Unlock of unlocked Array")
	}
}

// Close releases this process's hold on a: its descriptor now. Its mapping stays until the
// process exits (slices from Slice may still point into it, and the collector cannot see them);
// Slice and the other methods fail after Close as the package doc says. The memory lives on in
// the other processes that hold it. Close is idempotent, and does nothing on a nil Array.
func (a *Array[T]) Close() error {
	if a == nil {
		return nil
	}
	return a.s.close()
}

// check returns the error of a method called on a when a is nil, zero or closed.
func (a *Array[T]) check() error {
	if a == nil {
		return (*shared)(nil).check(kindArray)
	}
	return a.s.check(kindArray)
}

func (*Array[T]) handleAdopt(fds []int, meta string) (any, error) {
	s, err := adoptShared(firstFD(fds), meta, kindArray)
	if err != nil {
		return nil, err
	}
	return newArray[T](s)
}
