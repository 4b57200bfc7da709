package procid

import "golang.org/x/sys/unix"

const szomb = 5 // p_stat of a zombie (sys/proc.h)

// stat asks kern.proc.pid for the state and start time of pid.
func stat(pid int) (stamp uint32, zombie, ok bool) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil || int(k.Proc.P_pid) != pid {
		return 0, false, false
	}
	t := k.Proc.P_starttime
	return fold(uint64(t.Sec)*1_000_000 + uint64(t.Usec)), k.Proc.P_stat == szomb, true
}
