package sys

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupCPUQuota(t *testing.T) {
	write := func(t *testing.T, path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		files map[string]string
		want  int
	}{
		{"v2 limited", map[string]string{"self": "0::/app\n", "root/app/cpu.max": "150000 100000\n"}, 2},
		{"v2 parent tighter", map[string]string{"self": "0::/a/b\n", "root/a/b/cpu.max": "400000 100000\n", "root/a/cpu.max": "100000 100000\n"}, 1},
		{"v2 unlimited", map[string]string{"self": "0::/app\n", "root/app/cpu.max": "max 100000\n"}, 0},
		{"v1 limited", map[string]string{"self": "3:cpu,cpuacct:/job\n", "root/cpu,cpuacct/job/cpu.cfs_quota_us": "250000\n", "root/cpu,cpuacct/job/cpu.cfs_period_us": "100000\n"}, 3},
		{"v1 unlimited", map[string]string{"self": "3:cpu:/job\n", "root/cpu/job/cpu.cfs_quota_us": "-1\n", "root/cpu/job/cpu.cfs_period_us": "100000\n"}, 0},
		{"tiny quota rounds up", map[string]string{"self": "0::/\n", "root/cpu.max": "1000 100000\n"}, 1},
		{"no cgroup file", map[string]string{}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, data := range tc.files {
				write(t, filepath.Join(dir, p), data)
			}
			if got := cgroupCPUQuotaAt(filepath.Join(dir, "self"), filepath.Join(dir, "root")); got != tc.want {
				t.Fatalf("quota = %d; want %d", got, tc.want)
			}
		})
	}
}
