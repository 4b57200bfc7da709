//go:build unix

package procid

import "golang.org/x/sys/unix"

// exists reports whether pid names a process (perhaps a zombie), by kill(pid, 0).
func exists(pid int) bool { return unix.Kill(pid, 0) != unix.ESRCH }
