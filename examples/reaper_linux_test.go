package examples_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER.
const prSetChildSubreaper = 36

// becomeSubreaper makes this test process the subreaper of every process it starts: a descendant
// orphaned by an example's exit is adopted by the test instead of by pid 1, so that the test can
// see it.
func becomeSubreaper() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", errno)
	}
	return nil
}

// reapOrphans is called after an example has exited and been waited for. Any child this process
// still has is a descendant of the example that outlived it and was adopted here. It waits up to
// timeout for them to die, reaps them, and returns those that were still alive then (after
// killing them).
func reapOrphans(timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var alive []string
		for _, c := range adopted() {
			if c.state == "Z" {
				reap(c.pid)
				continue
			}
			alive = append(alive, c.String())
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, c := range adopted() {
				if err := syscall.Kill(c.pid, syscall.SIGKILL); err == nil {
					reap(c.pid)
				}
			}
			return alive
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func reap(pid int) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return
		}
	}
}

type proc struct {
	pid   int
	state string
	comm  string
}

func (p proc) String() string { return fmt.Sprintf("%d(%s,%s)", p.pid, p.comm, p.state) }

// adopted lists the children of this process from /proc.
func adopted() []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil && ppid == self {
			out = append(out, proc{pid: pid, state: f[0], comm: s[open+1 : end]})
		}
	}
	return out
}
