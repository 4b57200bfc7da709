//go:build !linux

package mp

// residentBytes is not implemented here; the memory limit has no effect.
func residentBytes(pid int) int64 { return 0 }
