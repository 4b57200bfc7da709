//go:build race

package shmtable

import (
	"runtime"
	"unsafe"
)

// The race detector does not see the lock word in shared memory as synchronisation; these tell
// it that taking and freeing the table's lock orders this process's goroutines.
func raceAcquire(p unsafe.Pointer) { runtime.RaceAcquire(p) }
func raceRelease(p unsafe.Pointer) { runtime.RaceRelease(p) }
