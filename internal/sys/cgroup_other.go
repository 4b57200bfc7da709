//go:build !linux

package sys

// CgroupCPUQuota returns 0: cgroups exist only on Linux.
func CgroupCPUQuota() int { return 0 }
