package mptest

import (
	"os"
	"strconv"
	"strings"
)

// Children lists the processes whose parent is ppid, zombies included, by reading /proc.
func Children(ppid int) ([]ChildInfo, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []ChildInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := Stat(pid)
		if ok && st.PPid == ppid {
			out = append(out, ChildInfo{Pid: pid, State: st.State, Comm: st.Comm})
		}
	}
	return out, nil
}

// Stat reads /proc/PID/stat; ok is false when the process does not exist.
func Stat(pid int) (ProcStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcStat{}, false
	}
	s := string(b)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return ProcStat{}, false
	}
	f := strings.Fields(s[close+1:])
	if len(f) < 2 {
		return ProcStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	return ProcStat{Comm: s[open+1 : close], State: f[0], PPid: ppid}, true
}

// Exists reports whether a process with this pid exists and is not a zombie.
func Exists(pid int) bool {
	st, ok := Stat(pid)
	return ok && st.State != "Z" && st.State != "X"
}
