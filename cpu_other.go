//go:build !linux

package mp

func cgroupCPUQuota() int { return 0 }
