// Command demo is mp's headline demo, in a few seconds:
//
//	go run ./examples/demo
//
//	(a) a pool of worker processes, one per CPU, does CPU-bound work with mp.Map, in parallel,
//	    with a progress bar (package progress) on standard error;
//	(b) a worker killed with SIGKILL in the middle of a task fails that task only, with an error
//	    matching mp.ErrWorkerDied: every other task completes with the right result, and the
//	    pool replaces the worker;
//	(c) an error a worker returns keeps its identity: errors.Is matches a registered sentinel;
//	(d) a panic in a worker is an *mp.PanicError in the parent, with the worker's stack;
//	(e) mp.Apply with mp.WithTaskTimeout really kills a worker that never returns;
//	(f) and no child is left behind.
//
// It gathers what the other examples teach one at a time about processes and pools (parallelism,
// apply and map, a child's pid, terminate) into one program.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/progress"
)

// Range is a half-open range of integers [Lo, Hi).
type Range struct{ Lo, Hi int }

// CountPrimes counts the primes in a range by trial division: honest CPU work.
var CountPrimes = mp.Register("demo.count_primes", func(ctx context.Context, r Range) (int, error) {
	return countPrimes(r.Lo, r.Hi), nil
})

// ErrOutOfStock is a sentinel registered with mp, so that it keeps its identity across processes.
var ErrOutOfStock = mp.RegisterError("demo.out_of_stock", errors.New("out of stock"))

// Buy fails with an error that wraps ErrOutOfStock.
var Buy = mp.Register("demo.buy", func(ctx context.Context, item string) (int, error) {
	return 0, fmt.Errorf("buying %q: %w", item, ErrOutOfStock)
})

// Crash indexes past the end of a slice.
var Crash = mp.Register("demo.crash", func(ctx context.Context, i int) (int, error) {
	xs := []int{1, 2, 3}
	return xs[i], nil
})

// Spin loops forever and never looks at ctx.
var Spin = mp.Register("demo.spin", func(ctx context.Context, _ struct{}) (int, error) {
	fmt.Printf("    [worker] pid=%d: looping forever, never checking ctx\n", os.Getpid())
	n := 0
	for {
		n++
	}
})

const (
	tasks = 16                     // ranges of numbers to check
	work  = 800 * time.Millisecond // CPU time of all of them together, on one CPU
	grace = 100 * time.Millisecond // how long a timed-out task may take to return before its worker is killed
)

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()

	pool, err := mp.NewPool(ctx, mp.WithCancelGrace(grace)) // one worker per CPU: mp.NumCPU()
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	seen := map[int]bool{} // every worker pid seen, to check at the end that none is left
	note := func(pids []int) []int {
		for _, pid := range pids {
			seen[pid] = true
		}
		return sorted(pids)
	}
	fmt.Printf("mp demo: main process pid=%d, %d CPUs\n", os.Getpid(), mp.NumCPU())
	fmt.Printf("a pool of %d worker processes: %v\n\n", pool.Workers(), note(pool.Pids()))

	ranges, want := parallel(ctx, pool)
	killed(ctx, pool, ranges, want, note)
	sentinel(ctx, pool)
	panicking(ctx, pool)
	timeout(ctx, pool, note)

	fmt.Println("(f) no child left behind")
	if err := pool.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	alive := 0
	for pid := range seen {
		if exists(pid) {
			alive++
		}
	}
	fmt.Printf("    pool.Shutdown returned: worker processes seen %d, still running %d\n", len(seen), alive)
	fmt.Printf("    mp.ActiveChildren() = %v (%d processes)\n", mp.ActiveChildren(), len(mp.ActiveChildren()))
}

// parallel counts the primes in the ranges serially in this process, then with mp.Map on the
// pool, and returns the ranges and the serial counts.
func parallel(ctx context.Context, pool *mp.Pool) ([]Range, []int) {
	width := calibrate(work / tasks)
	ranges := make([]Range, tasks)
	for i := range ranges {
		lo := base + i*width
		ranges[i] = Range{Lo: lo, Hi: lo + width}
	}
	fmt.Printf("(a) CPU-bound work: count the primes in %d ranges of %d numbers (%v of work in all)\n", tasks, width, work)

	start := time.Now()
	want := make([]int, tasks)
	for i, r := range ranges {
		n, err := CountPrimes.Call(ctx, r)
		if err != nil {
			log.Fatal(err)
		}
		want[i] = n
	}
	serial := time.Since(start)
	fmt.Printf("    serial, in this process: %5.2fs, found %d primes\n", serial.Seconds(), sum(want))

	start = time.Now()
	bar := progress.Bar(os.Stderr, progress.WithLabel("    (a) mp.Map"))
	got, err := mp.Map(ctx, pool, CountPrimes, ranges, mp.WithChunkSize(1), mp.WithProgress(bar))
	if err != nil {
		log.Fatal(err)
	}
	par := time.Since(start)
	fmt.Printf("    mp.Map on %d workers:    %5.2fs, found %d primes; the same count in every range: %t\n",
		pool.Workers(), par.Seconds(), sum(got), slices.Equal(got, want))
	fmt.Printf("    speedup: %.1fx with %d CPUs\n\n", serial.Seconds()/par.Seconds(), mp.NumCPU())
	return ranges, want
}

// killed runs the ranges again as futures, kills a busy worker with SIGKILL, and shows that only
// its task failed and that the pool replaced it.
func killed(ctx context.Context, pool *mp.Pool, ranges []Range, want []int, note func([]int) []int) {
	fmt.Printf("(b) the same %d tasks as futures; a worker is killed with SIGKILL in the middle of one\n", len(ranges))
	before := note(pool.Pids())
	fmt.Printf("    workers before: %v\n", before)

	start := time.Now()
	futs := make([]*mp.Future[int], len(ranges))
	for i, r := range ranges {
		futs[i] = mp.Submit(ctx, pool, CountPrimes, r)
	}
	bar := progress.Bar(os.Stderr, progress.WithLabel("    (b) futures"))
	victim, done := 0, 0
	for f, err := range mp.AsCompleted(ctx, futs...) {
		if f == nil { // ctx ended; a task's own error (the killed one's) is counted below
			log.Fatal(err)
		}
		done++
		bar(mp.Progress{Done: done, Total: len(futs), Elapsed: time.Since(start)})
		if victim == 0 {
			// One result is in: every worker is busy with a task, and more are queued.
			victim = busyWorker(pool)
			if err := sigkill(victim); err != nil {
				log.Fatal(err)
			}
		}
	}
	fmt.Printf("    after the first result: sent SIGKILL to worker pid=%d, busy with a task\n", victim)

	right, wrong := 0, 0
	var failures []string
	var died *mp.ExitError
	for i, f := range futs {
		n, err := f.Wait(ctx)
		switch {
		case err != nil:
			failures = append(failures, fmt.Sprintf("task %d: %v", i, err))
			if errors.Is(err, mp.ErrWorkerDied) {
				errors.As(err, &died)
			}
		case n == want[i]:
			right++
		default:
			wrong++
		}
	}
	fmt.Printf("    tasks done: %d of %d; %d returned the right count, %d a wrong one, %d failed\n",
		done, len(futs), right, wrong, len(failures))
	for _, f := range failures {
		fmt.Printf("    the failed %s\n", f)
	}
	if died == nil {
		log.Fatalf("no task failed with mp.ErrWorkerDied: %v", failures)
	}
	fmt.Printf("    errors.Is(err, mp.ErrWorkerDied) = true; *mp.ExitError: pid=%d (the killed worker: %t), Code()=%d\n",
		died.Pid, died.Pid == victim, died.Code())

	after := note(waitWorkers(pool, func(pids []int) bool { return !slices.Contains(pids, victim) }))
	fmt.Printf("    workers after: %v: the pool replaced pid %d with pid %d\n\n", after, victim, newPids(before, after))
}

// busyWorker returns the pid of a worker that is running a task: on Linux, one the kernel shows
// running (state R) in three looks a millisecond apart — a task here runs for tens of
// milliseconds, the step from one task to the next for microseconds; elsewhere, any.
func busyWorker(pool *mp.Pool) int {
	deadline := time.Now().Add(time.Second)
	for {
		pids := sorted(pool.Pids())
		for _, pid := range pids {
			if runtime.GOOS != "linux" || runningFor(pid, 3) {
				return pid
			}
		}
		if time.Now().After(deadline) && len(pids) > 0 {
			return pids[0]
		}
		time.Sleep(time.Millisecond)
	}
}

// runningFor reports whether process pid is in state R at each of n looks a millisecond apart.
func runningFor(pid, n int) bool {
	for i := range n {
		if i > 0 {
			time.Sleep(time.Millisecond)
		}
		if state(pid) != "R" {
			return false
		}
	}
	return true
}

// waitWorkers waits until the pool has its full count of workers and ok approves of their pids,
// and returns them.
func waitWorkers(pool *mp.Pool, ok func([]int) bool) []int {
	deadline := time.Now().Add(3 * time.Second)
	for {
		pids := sorted(pool.Pids())
		if len(pids) == pool.Workers() && ok(pids) || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newPids returns the pids in after that are not in before: one, normally.
func newPids(before, after []int) any {
	var pids []int
	for _, pid := range after {
		if !slices.Contains(before, pid) {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 1 {
		return pids[0]
	}
	return pids
}

// sentinel shows a worker's error matching a registered sentinel in the parent.
func sentinel(ctx context.Context, pool *mp.Pool) {
	fmt.Println("(c) a worker's error keeps its identity across the process boundary")
	_, err := mp.Apply(ctx, pool, Buy, "a Go book")
	fmt.Printf("    mp.Apply returned: %v\n", err)
	fmt.Printf("    errors.Is(err, ErrOutOfStock) = %t\n", errors.Is(err, ErrOutOfStock))
	var pe *mp.ProcessError
	if !errors.As(err, &pe) {
		log.Fatalf("Apply returned %T, want *mp.ProcessError", err)
	}
	fmt.Printf("    *mp.ProcessError from worker pid=%d (one of the pool's: %t), original type %s\n\n",
		pe.Pid, slices.Contains(pool.Pids(), pe.Pid), pe.Type)
}

// panicking shows a worker's panic as an *mp.PanicError with the worker's stack.
func panicking(ctx context.Context, pool *mp.Pool) {
	fmt.Println("(d) a panic in a worker is an error in the parent, with the worker's stack")
	_, err := mp.Apply(ctx, pool, Crash, 5)
	var pe *mp.PanicError
	if !errors.As(err, &pe) {
		log.Fatalf("Apply returned %v, want *mp.PanicError", err)
	}
	fmt.Printf("    mp.Apply returned: %v\n", err)
	fmt.Println("    where it panicked, from the worker's stack:")
	for _, line := range panicSite(pe.Stack, 4) {
		fmt.Printf("        %s\n", strings.Replace(line, "\t", "    ", 1))
	}
	fmt.Printf("    the worker lives on: pid=%d is one of the pool's: %t\n\n", pe.Pid, slices.Contains(pool.Pids(), pe.Pid))
}

// panicSite returns up to n lines of a goroutine stack, from the frame that called panic. A stack
// is a header line, then two lines per frame: the function, then its file and line.
func panicSite(stack string, n int) []string {
	lines := strings.Split(strings.TrimSpace(stack), "\n")
	if i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "panic(") }); i >= 0 {
		lines = lines[i:]
	}
	for len(lines) >= 2 && (strings.HasPrefix(lines[0], "panic(") || strings.HasPrefix(lines[0], "runtime.")) {
		lines = lines[2:] // panic itself, and the runtime's frames that raised it
	}
	return lines[:min(n, len(lines))]
}

// timeout runs a function that never returns with a 200 ms task timeout.
func timeout(ctx context.Context, pool *mp.Pool, note func([]int) []int) {
	const limit = 200 * time.Millisecond
	fmt.Printf("(e) mp.Apply with mp.WithTaskTimeout(%v) on a function that never returns\n", limit)
	before := note(pool.Pids())
	start := time.Now()
	_, err := mp.Apply(ctx, pool, Spin, struct{}{}, mp.WithTaskTimeout(limit))
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		log.Fatalf("Apply returned %v, want context.DeadlineExceeded", err)
	}
	fmt.Printf("    mp.Apply returned after %dms: %v\n", elapsed.Milliseconds(), err)

	// The worker does not return: after the cancel grace the pool kills it and starts another.
	after := note(waitWorkers(pool, func(pids []int) bool { return !slices.Equal(pids, before) }))
	killedAt := time.Since(start)
	var gone []int
	for _, pid := range before {
		if !slices.Contains(after, pid) {
			gone = append(gone, pid)
		}
	}
	if len(gone) != 1 {
		log.Fatalf("workers before %v, after %v: want exactly one replaced", before, after)
	}
	fmt.Printf("    the pool killed worker pid=%d after its %v cancel grace (replaced %dms after the call); it still exists: %t\n",
		gone[0], grace, killedAt.Milliseconds(), exists(gone[0]))
	fmt.Printf("    workers now: %v\n\n", after)
}

// base is where the ranges of primes start: far enough out that every number costs about as
// much to test as any other.
const base = 100_000_000

// calibrate returns how many numbers from base on take about d to check.
func calibrate(d time.Duration) int {
	const sample = 20_000
	start := time.Now()
	runtime.KeepAlive(countPrimes(base, base+sample)) // kept, so that the compiler cannot drop the work
	per := time.Since(start) / sample
	if per <= 0 {
		per = 1
	}
	return max(sample/4, int(d/per))
}

func countPrimes(lo, hi int) int {
	n := 0
	for x := lo; x < hi; x++ {
		if isPrime(x) {
			n++
		}
	}
	return n
}

func isPrime(x int) bool {
	if x < 2 {
		return false
	}
	if x%2 == 0 {
		return x == 2
	}
	for d := 3; d*d <= x; d += 2 {
		if x%d == 0 {
			return false
		}
	}
	return true
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func sorted(pids []int) []int { return slices.Sorted(slices.Values(pids)) }

// state returns the state letter of a process in /proc (R running, S sleeping, Z zombie, ...),
// or "" if there is none.
func state(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// exists reports whether a process with this pid exists (and, on Linux, is not a zombie).
func exists(pid int) bool {
	if runtime.GOOS == "linux" {
		st := state(pid)
		return st != "" && st != "Z"
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}
