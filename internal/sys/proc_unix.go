//go:build unix

package sys

import (
	"os"
	"syscall"
)

// SigTerm is the signal that asks a process to end: SIGTERM.
var SigTerm os.Signal = syscall.SIGTERM

// SetOwnGroup makes attr start the child in a new process group, so that the terminal's Ctrl-C
// (sent to the foreground group) does not reach it: its parent decides when it stops.
func SetOwnGroup(attr *syscall.SysProcAttr) { attr.Setpgid = true }
