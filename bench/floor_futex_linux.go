package bench

// The futex floors of the lock and event workloads: what a mutex and a wake-up cost between two
// Go processes with nothing but a word of shared memory (a memfd page, mapped MAP_SHARED) and the
// futex system call. The children's side is bench/internal/trivial/futex_linux.go; the layouts of
// the shared page below must match it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// haveFutexFloors says that the futex floors run here.
const haveFutexFloors = true

// pingPongMem is the shared page of the event floor (trivial futex-echo): the word both sides
// store their values in, and the count of sleepers in FUTEX_WAIT on it.
type pingPongMem struct {
	word     atomic.Int32
	_        [60]byte
	sleepers atomic.Int32
}

// lockMem is the shared page of the lock floors (trivial lock-inc): the mutex (0 free, 1 locked,
// 2 locked with waiters), the go word, and a plain counter, each on a cache line of its own.
type lockMem struct {
	mu      atomic.Int32
	_       [60]byte
	goFlag  atomic.Int32
	_       [60]byte
	counter int64
}

// sharedPage is a page of shared memory (a memfd, mapped MAP_SHARED) and its descriptor, which
// a child gets as fd 3.
type sharedPage struct {
	file *os.File
	mem  []byte
}

func newSharedPage() (*sharedPage, error) {
	fd, err := unix.MemfdCreate("mp-bench-floor", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	if err := unix.Ftruncate(fd, 4096); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("ftruncate", err)
	}
	mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("mmap", err)
	}
	return &sharedPage{file: os.NewFile(uintptr(fd), "mp-bench-floor"), mem: mem}, nil
}

func (p *sharedPage) ptr() unsafe.Pointer { return unsafe.Pointer(&p.mem[0]) }

func (p *sharedPage) close() {
	unix.Munmap(p.mem)
	p.file.Close()
}

const (
	futexWaitOp = 0 // FUTEX_WAIT, not FUTEX_PRIVATE_FLAG: the word is shared by processes
	futexWakeOp = 1 // FUTEX_WAKE, the same
)

// waitTimeout bounds each FUTEX_WAIT of EventPingPong, so that it notices a child that died.
var waitTimeout = unix.NsecToTimespec(int64(100 * time.Millisecond))

// futexWait sleeps while *addr holds val, for at most waitTimeout; it reports whether it timed
// out.
func futexWait(addr *atomic.Int32, val int32) (timedOut bool) {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(uint32(val)), uintptr(unsafe.Pointer(&waitTimeout)), 0, 0)
	return e == unix.ETIMEDOUT
}

// futexWake wakes up to n sleepers on addr; it does not block, so it skips the scheduler's
// system call bookkeeping.
func futexWake(addr *atomic.Int32, n int) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(n), 0, 0, 0)
}

// waitFor returns once the word holds want: spin loads first, then FUTEX_WAIT, counted in
// sleepers so that the other side wakes it only when it may sleep. Each time a wait times out, it
// returns the error of alive, if any (the child has exited, ctx has ended).
func (m *pingPongMem) waitFor(want int32, spin int, alive func() error) error {
	for k := 0; ; k++ {
		v := m.word.Load()
		if v == want {
			return nil
		}
		if k < spin {
			continue
		}
		m.sleepers.Add(1)
		timedOut := false
		if v = m.word.Load(); v != want {
			timedOut = futexWait(&m.word, v)
		}
		m.sleepers.Add(-1)
		if timedOut {
			if err := alive(); err != nil {
				return err
			}
		}
	}
}

// signal stores v and wakes the other side if it sleeps.
func (m *pingPongMem) signal(v int32) {
	m.word.Store(v)
	if m.sleepers.Load() > 0 {
		futexWake(&m.word, 1)
	}
}

// futexLockSpin is how many loads of a locked mutex a locker makes before it sleeps; the same
// as trivial's.
const futexLockSpin = 100

// futexLock takes the futex mutex m: Drepper's three-state mutex with a short spin, as trivial
// lock-inc takes it.
func futexLock(m *atomic.Int32) {
	if m.CompareAndSwap(0, 1) {
		return
	}
	for range futexLockSpin {
		if m.Load() == 0 && m.CompareAndSwap(0, 1) {
			return
		}
	}
	for m.Swap(2) != 0 {
		futexWait(m, 2)
	}
}

// futexUnlock releases m, waking one sleeper if there may be one.
func futexUnlock(m *atomic.Int32) {
	if m.Swap(0) == 2 {
		futexWake(m, 1)
	}
}

// EventPingPong starts the program as futex-echo on a shared page and ping-pongs a value with
// it: this process stores 2i+1 in the shared word and waits until the child has stored 2i+2,
// each side waiting with FUTEX_WAIT after spin loads (0: at once) and waking the other with
// FUTEX_WAKE when it sleeps, both on a locked OS thread. It runs warm round trips unmeasured,
// then n timed, and returns each timed round trip.
func (f *Floor) EventPingPong(ctx context.Context, n, warm, spin int) ([]time.Duration, error) {
	pg, err := newSharedPage()
	if err != nil {
		return nil, err
	}
	defer pg.close()
	m := (*pingPongMem)(pg.ptr())
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.Path, "futex-echo", strconv.Itoa(spin))
	cmd.ExtraFiles = []*os.File{pg.file}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var exited atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		exited.Store(true)
		done <- err
	}()
	defer func() {
		m.word.Store(-1) // the child's stop
		futexWake(&m.word, 1)
		<-done
	}()
	alive := func() error {
		if exited.Load() {
			return errors.New("bench: trivial futex-echo exited during the ping-pong")
		}
		return ctx.Err()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	out := make([]time.Duration, 0, n)
	for i := -warm; i < n; i++ {
		k := int32(i + warm)
		t0 := time.Now()
		m.signal(2*k + 1)
		if err := m.waitFor(2*k+2, spin, alive); err != nil {
			return nil, err
		}
		if i >= 0 {
			out = append(out, time.Since(t0))
		}
	}
	return out, nil
}

// LockContention starts the program twice as lock-inc on one shared page: once both have said
// they are ready and had 10 ms to fall asleep on the go word, it sets the word, wakes them, and
// returns how long it took until both said they had made their perProc increments of the plain
// counter under the futex mutex. It checks that the counter is 2×perProc.
func (f *Floor) LockContention(ctx context.Context, perProc int) (took time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout) // a lost child fails the run
	defer cancel()
	pg, err := newSharedPage()
	if err != nil {
		return 0, err
	}
	defer pg.close()
	m := (*lockMem)(pg.ptr())
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var cmds []*exec.Cmd
	defer func() {
		if err != nil {
			for _, c := range cmds {
				c.Process.Kill()
			}
		}
		for _, c := range cmds {
			if werr := c.Wait(); werr != nil && err == nil {
				err = fmt.Errorf("bench: trivial lock-inc: %w", werr)
			}
		}
	}()
	for range 2 {
		cmd := exec.CommandContext(ctx, f.Path, "lock-inc", strconv.Itoa(perProc))
		cmd.ExtraFiles = []*os.File{pg.file}
		cmd.Stdout = w
		if err := cmd.Start(); err != nil {
			w.Close()
			return 0, err
		}
		cmds = append(cmds, cmd)
	}
	w.Close()
	expect := func(what string) error {
		b := make([]byte, 2)
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("bench: waiting for trivial lock-inc to say %s: %w", what, err)
		}
		if string(b) != what+what {
			return fmt.Errorf("bench: trivial lock-inc said %q, want %q", b, what+what)
		}
		return nil
	}
	if err := expect("r"); err != nil {
		return 0, err
	}
	time.Sleep(contentionSettle)
	t0 := time.Now()
	m.goFlag.Store(1)
	futexWake(&m.goFlag, 2)
	if err := expect("d"); err != nil {
		return 0, err
	}
	took = time.Since(t0)
	if got := atomic.LoadInt64(&m.counter); got != 2*int64(perProc) {
		return 0, fmt.Errorf("bench: trivial lock-inc counted %d, want %d", got, 2*perProc)
	}
	return took, nil
}

// LockUncontended takes and releases the futex mutex of a shared page n times in this process:
// the fast path of a futex mutex (one compare-and-swap to lock, one swap to unlock, no system
// call). It returns how long the n pairs took.
func LockUncontended(n int) (time.Duration, error) {
	pg, err := newSharedPage()
	if err != nil {
		return 0, err
	}
	defer pg.close()
	m := (*lockMem)(pg.ptr())
	for range 1000 {
		futexLock(&m.mu)
		futexUnlock(&m.mu)
	}
	t0 := time.Now()
	for range n {
		futexLock(&m.mu)
		futexUnlock(&m.mu)
	}
	took := time.Since(t0)
	if m.mu.Load() != 0 {
		return 0, errors.New("bench: the floor mutex is still locked")
	}
	return took, nil
}
