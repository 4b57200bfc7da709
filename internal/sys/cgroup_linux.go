package sys

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CgroupCPUQuota returns the CPU limit of this process's cgroup, rounded up, or 0 when there is
// none. It reads cgroup v2's cpu.max along the path from the process's cgroup to the root (the
// tightest limit wins), and cgroup v1's cfs quota and period. mp.NumCPU lowers the CPU count to it.
func CgroupCPUQuota() int { return cgroupCPUQuotaAt("/proc/self/cgroup", "/sys/fs/cgroup") }

// cgroupCPUQuotaAt is CgroupCPUQuota reading the given cgroup membership file and cgroup
// mount, so that tests can give it a made-up hierarchy.
func cgroupCPUQuotaAt(membership, root string) int {
	f, err := os.Open(membership)
	if err != nil {
		return 0
	}
	defer f.Close()
	best := 0
	consider := func(quota, period float64) {
		if quota <= 0 || period <= 0 {
			return
		}
		n := int((quota + period - 1) / period)
		if n < 1 {
			n = 1
		}
		if best == 0 || n < best {
			best = n
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "": // cgroup v2
			for dir := filepath.Join(root, parts[2]); ; dir = filepath.Dir(dir) {
				if b, err := os.ReadFile(filepath.Join(dir, "cpu.max")); err == nil {
					fs := strings.Fields(string(b))
					if len(fs) == 2 && fs[0] != "max" {
						q, err1 := strconv.ParseFloat(fs[0], 64)
						p, err2 := strconv.ParseFloat(fs[1], 64)
						if err1 == nil && err2 == nil {
							consider(q, p)
						}
					}
				}
				if dir == root || dir == "/" || dir == "." {
					break
				}
			}
		case strings.Contains(","+parts[1]+",", ",cpu,"): // cgroup v1
			base := filepath.Join(root, "cpu,cpuacct")
			if _, err := os.Stat(base); err != nil {
				base = filepath.Join(root, "cpu")
			}
			for _, dir := range []string{filepath.Join(base, parts[2]), base} {
				q := readNumber(filepath.Join(dir, "cpu.cfs_quota_us"))
				p := readNumber(filepath.Join(dir, "cpu.cfs_period_us"))
				consider(q, p)
			}
		}
	}
	return best
}

// readNumber reads a file holding one number, or returns 0.
func readNumber(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return 0
	}
	return v
}
