package examples_test

import (
	"fmt"
	"testing"
)

func init() { checks["manager_dict"] = testManagerDict }

// testManagerDict: with the lock and with Update the count ends at 0; without the lock every
// process read the same count and all but one update is lost.
func testManagerDict(t *testing.T) {
	const n = 20
	r := run(t, "manager_dict", "-n", fmt.Sprint(n))
	if pid := r.findInt(`^main pid=(\d+): manager pid=\d+$`); pid != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
	}
	for _, mode := range []string{"lock", "nolock", "update"} {
		r.find(fmt.Sprintf(`^%s: d = \{"count": %d\}; %d processes each take one off$`, mode, n, n))
	}
	r.find(`^lock: final d = \{"count": 0\}; 0 updates lost$`)
	r.find(`^update: final d = \{"count": 0\}; 0 updates lost$`)
	r.find(fmt.Sprintf(`^nolock: final d = \{"count": %d\}; %d updates lost$`, n-1, n-1))
}
