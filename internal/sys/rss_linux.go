package sys

import (
	"os"
	"strconv"
	"strings"
)

// ResidentBytes returns the resident memory of process pid, read from /proc/<pid>/statm, or 0 if
// it cannot be read. The pool's memory limit compares it with the limit.
func ResidentBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
