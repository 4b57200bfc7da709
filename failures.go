package mp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// A child's failure that nobody observes would vanish: the program would exit 0, where Python
// prints the child's traceback. So a process that failed is remembered here from its reaping until
// its error is observed — Wait, Start or Run returned it, or ExitCode was read — and the failures
// still unobserved are reported on standard error by Cleanup (and so by Main, and by a child when
// its function returns), or when their *Process is garbage-collected, whichever comes first.

// failure is the record of a child's failure until it is observed or reported. It holds no
// reference to its Process, which can thus be garbage-collected.
type failure struct {
	seq       int64
	name      string
	pid       int
	err       error
	signalled bool // this process had sent the child a signal (Terminate, Kill, Signal)
}

var unobserved struct {
	sync.Mutex
	m map[*failure]struct{}
}

var failureSeq atomic.Int64

// failureOutput holds where unobserved failures are reported: standard error, unless a test
// replaced it.
var failureOutput atomic.Pointer[io.Writer]

func failureWriter() io.Writer {
	if w := failureOutput.Load(); w != nil {
		return *w
	}
	return os.Stderr
}

// recordFailure remembers p's failure until it is observed or reported. It is called once, by the
// goroutine that reaped p, before p.done is closed.
func (p *Process) recordFailure() {
	if p.err == nil || p.quiet {
		return
	}
	f := &failure{seq: failureSeq.Add(1), name: p.name, pid: p.Pid(), err: p.err, signalled: p.signalled.Load()}
	unobserved.Lock()
	if unobserved.m == nil {
		unobserved.m = map[*failure]struct{}{}
	}
	unobserved.m[f] = struct{}{}
	unobserved.Unlock()
	p.failure = f
	runtime.AddCleanup(p, func(f *failure) {
		if takeFailure(f) {
			reportFailures(failureWriter(), []*failure{f})
		}
	}, f)
}

// observe records that the caller has been given p's error: its failure is not reported. It is
// called once p.done is closed.
func (p *Process) observe() {
	if p.failure != nil {
		takeFailure(p.failure)
	}
}

// takeFailure forgets f and reports whether it was still unobserved.
func takeFailure(f *failure) bool {
	unobserved.Lock()
	defer unobserved.Unlock()
	_, ok := unobserved.m[f]
	delete(unobserved.m, f)
	return ok
}

// reportUnobserved reports on w, and forgets, every failure not observed so far.
func reportUnobserved(w io.Writer) {
	unobserved.Lock()
	fs := make([]*failure, 0, len(unobserved.m))
	for f := range unobserved.m {
		fs = append(fs, f)
	}
	clear(unobserved.m)
	unobserved.Unlock()
	slices.SortFunc(fs, func(a, b *failure) int { return int(a.seq - b.seq) })
	reportFailures(w, fs)
}

// stackLines is how many lines of a panic's stack a report shows: the panicking function and the
// few frames above it.
const stackLines = 10

// reportFailures writes one report of the failures that deserve one, in a single write.
func reportFailures(w io.Writer, fs []*failure) {
	var b strings.Builder
	n := 0
	for _, f := range fs {
		if !f.reportable() {
			continue
		}
		n++
		fmt.Fprintf(&b, "mp: child process %s (pid %d) failed, and nothing waited for it:\n", f.name, f.pid)
		fmt.Fprintf(&b, "\t%s\n", strings.ReplaceAll(f.err.Error(), "\n", "\n\t"))
		var pe *PanicError
		if errors.As(f.err, &pe) {
			lines, more := panicFrames(pe.Stack, stackLines)
			for _, l := range lines {
				fmt.Fprintf(&b, "\t%s\n", l)
			}
			if more > 0 {
				fmt.Fprintf(&b, "\t... %d more lines (the *mp.PanicError that Wait returns has the whole stack)\n", more)
			}
		}
	}
	if n == 0 || w == nil {
		return
	}
	b.WriteString("mp: Wait returns a child's error; WithQuietFailures() on a process silences this report\n")
	io.WriteString(w, b.String())
}

// reportable reports whether f deserves a report: not when this process ended the child with a
// signal and that is all that went wrong (the daemons Cleanup terminates, a child killed on
// purpose), nor when the child died of the signal that interrupted this program (a terminal's
// Ctrl-C reaches the whole process group).
func (f *failure) reportable() bool {
	var ee *ExitError
	if !errors.As(f.err, &ee) || ee.ProcessState == nil {
		return true
	}
	if f.signalled {
		return false
	}
	if s, ok := interruptedBy.Load().(syscall.Signal); ok && exitCode(ee.ProcessState) == -int(s) {
		return false
	}
	return true
}

// panicFrames returns the first lines of a panic's stack, at most n: the frames from the
// panicking function up to the first frame of this package that called it (debug.Stack, the
// recovery and panic itself are left out), and how many lines follow.
func panicFrames(stack string, n int) ([]string, int) {
	lines := strings.Split(strings.TrimRight(stack, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") && i+2 <= len(lines) {
			lines = lines[i+2:] // the panic call and its file line
			break
		}
	}
	end := len(lines)
	for i, l := range lines {
		if strings.HasPrefix(l, "github.com/mp-go/mp.") {
			end = i // mp's own frames, which ran the function
			break
		}
	}
	end = min(end, n)
	return lines[:end], len(lines) - end
}

// interruptedBy is the syscall.Signal that made Main cancel its context, once one has.
var interruptedBy atomic.Value
