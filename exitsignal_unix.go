//go:build unix

package mp

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// exitSignal returns the name of the signal that ended a process ("SIGKILL"), if one did.
func exitSignal(st *os.ProcessState) (string, bool) {
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return "", false
	}
	if name := unix.SignalName(ws.Signal()); name != "" {
		return name, true
	}
	return ws.Signal().String(), true
}
