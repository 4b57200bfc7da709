//go:build unix

package mp

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func selfPid() int { return os.Getpid() }

// processAlive reports whether process pid exists and has not exited (a zombie has).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); err == unix.ESRCH {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc (macOS): kill(2) said it exists
	}
	// The state follows the command name, which is in parentheses and may contain them.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}
