//go:build windows

package sys

import (
	"os"
	"syscall"
)

// SigTerm is os.Kill: Windows cannot deliver SIGTERM.
var SigTerm os.Signal = os.Kill

// SetOwnGroup does nothing on Windows, where mp starts no children.
func SetOwnGroup(attr *syscall.SysProcAttr) {}
