//go:build !race

package shmtable

import "unsafe"

func raceAcquire(p unsafe.Pointer) {}
func raceRelease(p unsafe.Pointer) {}
