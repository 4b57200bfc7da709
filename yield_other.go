//go:build !linux

package mp

import "runtime"

// osYield lets other goroutines run (there is no portable way to yield the thread's CPU).
func osYield() { runtime.Gosched() }
