package sys

import "golang.org/x/sys/unix"

// Yield gives this thread's CPU to another runnable thread, if there is one. Spin loops call it
// so that a peer process sharing this CPU (the owner of a lock, a writer of a ring) can run and
// make the change the loop waits for.
func Yield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
