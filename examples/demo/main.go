// Command demo is mp's headline demo, in a few seconds:
//
//	go run ./examples/demo
//
//	(a) CPU-bound work in 4 child processes runs in parallel, on every CPU;
//	(b) an error a child returns keeps its identity: errors.Is matches a registered sentinel;
//	(c) a panic in a child is an *mp.PanicError in the parent, with the child's stack;
//	(d) mp.Run with a timeout really kills a child that never returns;
//	(e) a child killed with SIGKILL in the middle of its work is an *mp.ExitError, exit code -9;
//	(f) and no child is left behind.
//
// It gathers what seed 000 and seed 004 teach about processes (parallelism, start and join, the
// child's pid, terminate) into one program.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mp-go/mp"
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
	fmt.Printf("    [child] pid=%d: looping forever, never checking ctx\n", os.Getpid())
	n := 0
	for {
		n++
	}
})

// Work counts primes for a long time.
var Work = mp.Register("demo.work", func(ctx context.Context, _ struct{}) (int, error) {
	return countPrimes(0, 1<<40), nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()

	fmt.Printf("mp demo: main process pid=%d, %d CPUs\n\n", os.Getpid(), mp.NumCPU())
	parallel(ctx)
	sentinel(ctx)
	panicking(ctx)
	timeout(ctx)
	killed(ctx)

	fmt.Println("(f) no child left behind")
	fmt.Printf("    mp.ActiveChildren() = %v (%d processes)\n", mp.ActiveChildren(), len(mp.ActiveChildren()))
}

// parallel runs the same CPU-bound work serially in this process, then in 4 child processes.
func parallel(ctx context.Context) {
	const tasks = 4
	width := calibrate(500 * time.Millisecond)
	ranges := make([]Range, tasks)
	for i := range ranges {
		lo := base + i*width
		ranges[i] = Range{Lo: lo, Hi: lo + width}
	}
	fmt.Printf("(a) CPU-bound work: count the primes in %d ranges of %d numbers (about 0.5s each)\n", tasks, width)

	start := time.Now()
	serialCount := 0
	for _, r := range ranges {
		n, err := CountPrimes.Call(ctx, r)
		if err != nil {
			log.Fatal(err)
		}
		serialCount += n
	}
	serial := time.Since(start)
	fmt.Printf("    serial, in this process:    %.2fs, found %d primes\n", serial.Seconds(), serialCount)

	start = time.Now()
	counts := make([]int, tasks)
	errs := make([]error, tasks)
	var wg sync.WaitGroup
	for i, r := range ranges {
		wg.Go(func() { counts[i], errs[i] = mp.Run(ctx, CountPrimes, r) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		log.Fatal(err)
	}
	par := time.Since(start)
	parCount := 0
	for _, n := range counts {
		parCount += n
	}
	fmt.Printf("    parallel, %d child processes: %.2fs, found %d primes\n", tasks, par.Seconds(), parCount)
	fmt.Printf("    speedup: %.1fx with %d CPUs\n\n", serial.Seconds()/par.Seconds(), mp.NumCPU())
}

// sentinel shows a child's error matching a registered sentinel in the parent.
func sentinel(ctx context.Context) {
	fmt.Println("(b) a child's error keeps its identity across the process boundary")
	p := mp.NewProcess(Buy, "a Go book")
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	err := p.Wait(ctx)
	fmt.Printf("    Wait returned: %v\n", err)
	fmt.Printf("    errors.Is(err, ErrOutOfStock) = %t\n", errors.Is(err, ErrOutOfStock))
	var pe *mp.ProcessError
	if !errors.As(err, &pe) {
		log.Fatalf("Wait returned %T, want *mp.ProcessError", err)
	}
	fmt.Printf("    *mp.ProcessError from child pid=%d (p.Pid()=%d), original type %s\n\n", pe.Pid, p.Pid(), pe.Type)
}

// panicking shows a child's panic as an *mp.PanicError with the child's stack.
func panicking(ctx context.Context) {
	fmt.Println("(c) a panic in a child is an error in the parent, with the child's stack")
	_, err := mp.Run(ctx, Crash, 5)
	var pe *mp.PanicError
	if !errors.As(err, &pe) {
		log.Fatalf("Run returned %v, want *mp.PanicError", err)
	}
	fmt.Printf("    mp.Run returned: %v\n", err)
	fmt.Println("    where it panicked, from the child's stack:")
	for _, line := range panicSite(pe.Stack, 4) {
		fmt.Printf("        %s\n", strings.Replace(line, "\t", "    ", 1))
	}
	fmt.Println()
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

// timeout runs a function that never returns under a 200 ms deadline.
func timeout(ctx context.Context) {
	fmt.Println("(d) mp.Run with a 200ms timeout on a function that never returns")
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	var out bytes.Buffer // the child's output, to learn its pid
	start := time.Now()
	_, err := mp.Run(ctx, Spin, struct{}{}, mp.WithStdout(io.MultiWriter(os.Stdout, &out)))
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		log.Fatalf("Run returned %v, want context.DeadlineExceeded", err)
	}
	m := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		log.Fatalf("the spinning child printed no pid: %q", out.String())
	}
	pid, err2 := strconv.Atoi(m[1])
	if err2 != nil {
		log.Fatal(err2)
	}
	fmt.Printf("    mp.Run returned after %dms: %v\n", elapsed.Milliseconds(), err)
	fmt.Printf("    child pid=%d still exists: %t\n\n", pid, exists(pid))
}

// killed kills a working child with SIGKILL.
func killed(ctx context.Context) {
	fmt.Println("(e) a child killed with SIGKILL in the middle of its work")
	p := mp.NewProcess(Work, struct{}{})
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	fmt.Printf("    %v: sending SIGKILL\n", p)
	if err := p.Kill(); err != nil {
		log.Fatal(err)
	}
	err := p.Wait(ctx)
	var ee *mp.ExitError
	if !errors.As(err, &ee) {
		log.Fatalf("Wait returned %v, want *mp.ExitError", err)
	}
	fmt.Printf("    Wait returned *mp.ExitError: %v\n", err)
	fmt.Printf("    ExitError.Code() = %d, p.ExitCode() = %d\n\n", ee.Code(), p.ExitCode())
}

// base is where the ranges of primes start: far enough out that every number costs about as
// much to test as any other.
const base = 100_000_000

// calibrate returns how many numbers from base on take about d to check.
func calibrate(d time.Duration) int {
	const sample = 20_000
	start := time.Now()
	countPrimes(base, base+sample)
	per := time.Since(start) / sample
	if per <= 0 {
		per = 1
	}
	return max(sample, int(d/per))
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

// exists reports whether a process with this pid exists (and, on Linux, is not a zombie).
func exists(pid int) bool {
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		return len(f) > 0 && f[0] != "Z"
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}
