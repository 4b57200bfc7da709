package mp_test

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNumCPUHonoursAffinity runs a program restricted to one CPU and checks that mp.NumCPU, the
// default worker count, says 1.
func TestNumCPUHonoursAffinity(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil || all.Count() < 2 {
		t.Skipf("needs at least 2 CPUs in the affinity mask (%d, %v)", all.Count(), err)
	}
	one := unix.CPUSet{}
	for cpu := 0; cpu < 1024; cpu++ {
		if all.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	// The mask is inherited from the forking thread: restrict this thread for the fork only.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(cmd.Environ(), "MP_TEST_HELPER=numcpu")
	out, err := cmd.Output()
	if rerr := unix.SchedSetaffinity(0, &all); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "numcpu 1" {
		t.Fatalf("helper pinned to one CPU said %q; want numcpu 1", got)
	}
}
