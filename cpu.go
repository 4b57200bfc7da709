package mp

import (
	"runtime"

	"github.com/mp-go/mp/internal/sys"
)

// NumCPU returns the number of CPUs this process may use, the default number of workers: the CPUs
// in its affinity mask (as runtime.NumCPU reports them), lowered to the cgroup CPU quota when one
// is set (rounded up, at least 1). Unlike runtime.GOMAXPROCS it does not change when the program
// sets GOMAXPROCS.
func NumCPU() int {
	n := runtime.NumCPU()
	if q := sys.CgroupCPUQuota(); q > 0 && q < n {
		n = q
	}
	if n < 1 {
		n = 1
	}
	return n
}
