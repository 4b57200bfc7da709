//go:build unix && !linux

package main

import "os"

// The futex floors run on Linux only: the harness does not ask for them elsewhere.

func futexEcho(spin int) { os.Exit(2) }

func lockInc(n int) { os.Exit(2) }
