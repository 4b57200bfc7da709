//go:build unix && !linux

package shm

func adviseHuge(mem []byte) {}
