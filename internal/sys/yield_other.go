//go:build !linux

package sys

import "runtime"

// Yield lets other goroutines run: there is no portable way to yield the thread's CPU.
func Yield() { runtime.Gosched() }
