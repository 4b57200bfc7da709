package main

// The futex floors: the child side of event_latency's and lock_contention's floors. The layouts
// of the shared page and the protocols are those of bench/floor_futex_linux.go, the parent's side.

import (
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// pingPongMem is the shared page of futex-echo: the word both sides store their values in, and
// the count of sleepers in FUTEX_WAIT on it, on a cache line of its own.
type pingPongMem struct {
	word     atomic.Int32
	_        [60]byte
	sleepers atomic.Int32
}

// lockMem is the shared page of lock-inc: the mutex (0 free, 1 locked, 2 locked with waiters),
// the go word the parent sets to 1, and the counter, each on a cache line of its own.
type lockMem struct {
	mu      atomic.Int32
	_       [60]byte
	goFlag  atomic.Int32
	_       [60]byte
	counter int64
}

// sharedPage maps the first page of the shared memory the parent passed as fd 3.
func sharedPage() unsafe.Pointer {
	b, err := syscall.Mmap(3, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		os.Exit(3)
	}
	return unsafe.Pointer(&b[0])
}

// waitTimeout bounds each FUTEX_WAIT, so that a child whose parent has died notices it.
var waitTimeout = syscall.NsecToTimespec(100e6)

// parent is the pid of the harness, which started this process.
var parent = syscall.Getppid()

// futexWait sleeps while *addr holds val (a shared futex: the word is in shared memory), for at
// most waitTimeout; it exits the program if the wait timed out and the parent is gone.
func futexWait(addr *atomic.Int32, val int32) {
	_, _, e := syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), 0 /* FUTEX_WAIT */, uintptr(uint32(val)), uintptr(unsafe.Pointer(&waitTimeout)), 0, 0)
	if e == syscall.ETIMEDOUT && syscall.Getppid() != parent {
		os.Exit(1)
	}
}

// futexWake wakes up to n sleepers on addr; it does not block, so it skips the scheduler's
// system call bookkeeping.
func futexWake(addr *atomic.Int32, n int) {
	syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), 1 /* FUTEX_WAKE */, uintptr(n), 0, 0, 0)
}

// waitFor returns once the word holds want, or a negative value (the parent's stop), which it
// returns: spin loads first, then FUTEX_WAIT, counted in sleepers.
func (m *pingPongMem) waitFor(want int32, spin int) int32 {
	for k := 0; ; k++ {
		v := m.word.Load()
		if v == want || v < 0 {
			return v
		}
		if k < spin {
			continue
		}
		m.sleepers.Add(1)
		if v = m.word.Load(); v != want && v >= 0 {
			futexWait(&m.word, v)
		}
		m.sleepers.Add(-1)
	}
}

// signal stores v and wakes the other side if it sleeps.
func (m *pingPongMem) signal(v int32) {
	m.word.Store(v)
	if m.sleepers.Load() > 0 {
		futexWake(&m.word, 1)
	}
}

func futexEcho(spin int) {
	runtime.LockOSThread()
	m := (*pingPongMem)(sharedPage())
	for i := int32(0); ; i++ {
		if m.waitFor(2*i+1, spin) < 0 {
			return
		}
		m.signal(2*i + 2)
	}
}

// lockSpin is how many loads of a locked mutex a locker makes before it sleeps.
const lockSpin = 100

// lock takes the futex mutex m (Drepper's three-state mutex, with a short spin).
func lock(m *atomic.Int32) {
	if m.CompareAndSwap(0, 1) {
		return
	}
	for k := 0; k < lockSpin; k++ {
		if m.Load() == 0 && m.CompareAndSwap(0, 1) {
			return
		}
	}
	for m.Swap(2) != 0 {
		futexWait(m, 2)
	}
}

// unlock releases m, waking one sleeper if there may be one.
func unlock(m *atomic.Int32) {
	if m.Swap(0) == 2 {
		futexWake(m, 1)
	}
}

func lockInc(n int) {
	runtime.LockOSThread()
	m := (*lockMem)(sharedPage())
	if _, err := syscall.Write(1, []byte("r")); err != nil {
		os.Exit(3)
	}
	for m.goFlag.Load() == 0 {
		futexWait(&m.goFlag, 0)
	}
	for i := 0; i < n; i++ {
		lock(&m.mu)
		m.counter++
		unlock(&m.mu)
	}
	if _, err := syscall.Write(1, []byte("d")); err != nil {
		os.Exit(3)
	}
}
