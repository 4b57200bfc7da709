package procid

import (
	"os"
	"strconv"
	"strings"
)

// stat reads the state and start time of pid from /proc/<pid>/stat.
func stat(pid int) (stamp uint32, zombie, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, false
	}
	// The command name is in parentheses and may contain spaces and parentheses itself: the
	// fields that follow start after the last ')'. Then come state (field 3) … starttime
	// (field 22).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, false, false
	}
	zombie = f[0] == "Z" || f[0] == "X"
	t, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, zombie, false
	}
	return fold(t), zombie, true
}
