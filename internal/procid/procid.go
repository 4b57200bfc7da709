// Package procid names a process by its pid and a stamp of its start time, so that a process
// that has died is not mistaken for an unrelated one that was given its pid later.
//
// An ID packs both in 64 bits — the pid in the low half, the stamp in the high half — so that a
// lock word in shared memory can hold its owner's whole identity and still be taken with one
// compare-and-swap (and waited on with a futex on its low half). The pid stays below 1<<31: the
// top bit of the low half is free for the lock's own use.
//
// The stamp comes from the kernel: on Linux the start time in /proc/<pid>/stat (clock ticks
// since boot), on macOS the start time in kern.proc.pid. Where the system does not tell (other
// systems, or /proc not mounted) the stamp is 0, "unknown", and the identity is the pid alone.
// Two processes have the same ID only if one got the other's pid and started within the same
// clock tick (10 ms on Linux), or a whole stamp period (497 days at 100 Hz) later.
package procid

import (
	"os"
	"sync/atomic"
)

// ID is a process's identity: its pid in the low 32 bits, the stamp of its start time in the
// high 32 bits (0 when unknown). The zero ID names no process.
type ID uint64

// Make returns the ID of pid with the given stamp. It is for tests and for ids read back from
// shared memory; a process's own is Self, another running process's is Of.
func Make(pid int, stamp uint32) ID { return ID(uint64(stamp)<<32 | uint64(uint32(pid))) }

// Pid returns the process id part of id (negative, naming no process, if its top bit is set).
func (id ID) Pid() int { return int(int32(uint32(id))) }

// Stamp returns the start-time stamp part of id, 0 when unknown.
func (id ID) Stamp() uint32 { return uint32(id >> 32) }

var self atomic.Uint64

// Self returns this process's ID. The first call reads it from the kernel (a few microseconds);
// later calls are one atomic load.
func Self() ID {
	if v := self.Load(); v != 0 {
		return ID(v)
	}
	id := Of(os.Getpid())
	self.Store(uint64(id))
	return id
}

// Of returns the ID of the running process pid, with a stamp of 0 if the system does not tell
// its start time (or pid does not exist).
func Of(pid int) ID {
	st, _, ok := stat(pid)
	if !ok {
		st = 0
	}
	return Make(pid, st)
}

// Alive reports whether the process id names is running: its pid exists, is not a zombie, and
// — when id has a stamp and the system tells the pid's start time — started when id says. A pid
// now held by another process is therefore not alive. Where nothing can be learnt beyond the
// pid's existence, a process is taken to be alive. It costs a kill(2) and, on Linux, a read of
// /proc/<pid>/stat (a few microseconds).
func Alive(id ID) bool {
	pid := id.Pid()
	if pid <= 0 {
		return false
	}
	if !exists(pid) {
		return false
	}
	st, zombie, ok := stat(pid)
	if !ok {
		return true // the pid exists; nothing more is known
	}
	if zombie {
		return false
	}
	return id.Stamp() == 0 || id.Stamp() == st
}
