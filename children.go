package mp

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ProcessInfo describes a process: this one (Current) or its parent (Parent).
type ProcessInfo struct {
	Name      string // "MainProcess" for a program's first process, as in Python
	Pid       int
	Daemon    bool
	ParentPid int // os.Getppid() for the current process; 0 for Parent()
	// ident numbers the children this process starts (Process-1:2); it belongs to the process
	// and is left out when a ProcessInfo is sent to another.
	ident string `cbor:"-"`
}

var (
	current atomic.Pointer[ProcessInfo]
	parent  atomic.Pointer[ProcessInfo]
)

func currentInfo() ProcessInfo {
	if c := current.Load(); c != nil {
		return *c
	}
	return ProcessInfo{Name: "MainProcess", Pid: os.Getpid(), ParentPid: os.Getppid()}
}

// Current describes the calling process: Python's current_process(). In a child it carries the
// name and daemon flag its parent gave it.
func Current() ProcessInfo {
	c := currentInfo()
	c.ParentPid = os.Getppid()
	return c
}

// Parent describes the process that started this one, and false in a program's main process:
// Python's parent_process().
func Parent() (ProcessInfo, bool) {
	if p := parent.Load(); p != nil {
		return *p, true
	}
	return ProcessInfo{}, false
}

// active holds the started, unreaped children of this process, in start order.
var active struct {
	sync.Mutex
	procs []*Process
}

func addActive(p *Process) {
	active.Lock()
	active.procs = append(active.procs, p)
	active.Unlock()
}

func removeActive(p *Process) {
	active.Lock()
	active.procs = slices.DeleteFunc(active.procs, func(q *Process) bool { return q == p })
	active.Unlock()
}

// ActiveChildren returns the children of this process that have been started and have not yet
// ended, in the order they were started: Python's active_children().
func ActiveChildren() []*Process {
	active.Lock()
	defer active.Unlock()
	return slices.Clone(active.procs)
}

// Cleanup applies Python's exit rules to this process's children: it terminates the daemon
// children, then waits for every child to end. A child that has not ended after three seconds is
// named, with its pid, on standard error, once; Cleanup then goes on waiting. Last, it reports on
// standard error every child that failed and whose error nobody observed (see WithQuietFailures),
// as Python prints a failed child's traceback. Main calls it for you; if you do not use Main, put
// it at the top of main, right after Init:
//
//	func main() {
//		mp.Init()
//		defer mp.Cleanup()
//		...
//	}
//
// Without it, children still never outlive the program — when main returns, the kernel kills them
// (see Init) — but non-daemon children are cut short instead of being waited for. A child process
// applies the same rules itself when its function returns.
func Cleanup() {
	for _, p := range ActiveChildren() {
		if p.daemon {
			p.Terminate()
		}
	}
	waitChildren(os.Stderr, cleanupPatience)
	reportUnobserved(failureWriter())
}

// cleanupPatience is how long Cleanup waits in silence before it says which children it waits for.
const cleanupPatience = 3 * time.Second

// waitChildren waits for every active child to end. Children still running after patience are
// named on w, once, so that a program stuck at exit says why (a child blocked on a full queue, say).
func waitChildren(w io.Writer, patience time.Duration) {
	timer := time.NewTimer(patience)
	defer timer.Stop()
	for _, p := range ActiveChildren() {
		select {
		case <-p.done:
			continue
		case <-timer.C: // fires once: later children are waited for in silence
		}
		var names []string
		for _, c := range ActiveChildren() {
			names = append(names, fmt.Sprintf("%s (pid %d)", c.name, c.Pid()))
		}
		if len(names) > 0 {
			fmt.Fprintf(w, "mp: Cleanup has waited %v for %d child process(es) to end: %s; it waits on (a child blocked on a full queue or on a pipe nobody reads never ends: kill it, or make it a daemon)\n",
				patience, len(names), strings.Join(names, ", "))
		}
		<-p.done
	}
}
