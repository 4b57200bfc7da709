// Package mptest helps test programs that use mp: a TestMain that lets the test binary act as the
// children it starts and fails the run when a test leaks a goroutine or a child process.
package mptest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"go.uber.org/goleak"
)

// Main is a TestMain for packages whose tests start processes:
//
//	func TestMain(m *testing.M) { mptest.Main(m) }
//
// It calls mp.Init (so the test binary can act as its own children), runs the tests, and then
// fails the run if any goroutine is left over (goleak) or any child process of the test binary is
// still alive or unreaped. Extra goleak options, for goroutines the package under test keeps on
// purpose, may be given.
//
// Under the race detector, a process sleeps a second on exit so that other goroutines can finish
// their reports; Main turns that off for the children (GORACE=atexit_sleep_ms=0 unless GORACE
// already sets it), since every child is a test binary built with -race.
func Main(m *testing.M, opts ...goleak.Option) {
	mp.Init()
	if g := os.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms") {
		os.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=0"))
	}
	code := m.Run()
	if code == 0 {
		if err := CheckNoChildren(5 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "mptest:", err)
			code = 1
		}
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "mptest: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// CheckNoChildren waits up to timeout for this process to have no child processes — neither
// running nor zombie — and no mp.ActiveChildren, and returns an error naming them if some remain.
func CheckNoChildren(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		kids, err := Children(os.Getpid())
		active := mp.ActiveChildren()
		if err == nil && len(kids) == 0 && len(active) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("child processes left behind: %v (mp.ActiveChildren: %v)", kids, active)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ProcStat is the part of /proc/PID/stat that tests need.
type ProcStat struct {
	Comm  string
	State string
	PPid  int
}

// ChildInfo is a process found by Children.
type ChildInfo struct {
	Pid   int
	State string // the kernel's state letter: R, S, D, Z (zombie), …
	Comm  string
}

// String formats the child as "pid(comm,state)".
func (c ChildInfo) String() string { return fmt.Sprintf("%d(%s,%s)", c.Pid, c.Comm, c.State) }
