//go:build unix

// Command trivial is the floor of the benchmarks: the smallest Go program that can do what a
// workload's child does. The harness embeds this directory's Go files, builds them with
// CGO_ENABLED=0 and starts the program with os/exec.
//
//	trivial            exits at once (spawn_join)
//	trivial square X   prints X*X and exits (run_roundtrip)
//	trivial idle       prints "ready", then sleeps until killed (idle_rss, worker_rss)
//	trivial echo       copies standard input to standard output a byte at a time, with blocking
//	                   read(2) and write(2) system calls, until end of input (apply_latency over
//	                   two pipes; pipe_pingpong over one unix socketpair, given as both standard
//	                   input and standard output)
//	trivial echo-os    the same through *os.File on the runtime's poller: it makes standard input
//	                   and output non-blocking first (apply_latency's os.File figures; standard
//	                   input and output may be two pipes or one socket)
//	trivial sink N     reads standard input with blocking read(2) calls into a 1 MiB buffer and
//	                   answers every N bytes received with one byte on standard output, until end
//	                   of input (pipe_bandwidth, over one unix socketpair)
//	trivial futex-echo SPIN
//	                   maps the shared memory of fd 3 and answers each value 2i+1 the parent
//	                   stores in its first word with 2i+2, waiting with FUTEX_WAIT (after SPIN
//	                   loads of the word) and waking the parent with FUTEX_WAKE when it sleeps,
//	                   until the parent stores -1 (event_latency; Linux only, see futex_linux.go)
//	trivial lock-inc N maps the shared memory of fd 3, writes "r" on standard output, waits for the
//	                   parent's go word, increments a plain counter N times under a futex mutex,
//	                   then writes "d" (lock_contention; Linux only)
package main

import (
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case "square":
		x, err := strconv.Atoi(os.Args[2])
		if err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString(strconv.Itoa(x*x) + "\n")
	case "idle":
		os.Stdout.WriteString("ready\n")
		for {
			time.Sleep(time.Hour)
		}
	case "echo":
		echoRaw()
	case "echo-os":
		echoOS()
	case "sink":
		size, err := strconv.Atoi(os.Args[2])
		if err != nil || size <= 0 {
			os.Exit(2)
		}
		sink(size)
	case "futex-echo":
		spin, err := strconv.Atoi(os.Args[2])
		if err != nil || spin < 0 {
			os.Exit(2)
		}
		futexEcho(spin)
	case "lock-inc":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil || n < 0 {
			os.Exit(2)
		}
		lockInc(n)
	default:
		os.Exit(2)
	}
}

// echoRaw answers each byte on fd 0 with the same byte on fd 1, by raw system calls on the
// blocking descriptors it was given.
func echoRaw() {
	b := make([]byte, 1)
	for {
		n, err := syscall.Read(0, b)
		if err == syscall.EINTR {
			continue
		}
		if n <= 0 {
			return
		}
		for {
			_, err = syscall.Write(1, b)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			return
		}
	}
}

// echoOS answers each byte on standard input with the same byte on standard output, through
// *os.File values on the runtime's poller (the descriptors made non-blocking first, as the
// control socket of an mp child is).
func echoOS() {
	for _, fd := range []int{0, 1} {
		if err := syscall.SetNonblock(fd, true); err != nil {
			os.Exit(2)
		}
	}
	in, out := os.NewFile(0, "stdin"), os.NewFile(1, "stdout")
	b := make([]byte, 1)
	for {
		if n, err := in.Read(b); n != 1 || err != nil {
			return
		}
		if _, err := out.Write(b); err != nil {
			return
		}
	}
}

// sink reads fd 0 by raw system calls on the blocking descriptor it was given, into a buffer of
// 1 MiB (the data is not kept), and writes one byte on fd 1 each time another size bytes have
// arrived.
func sink(size int) {
	buf := make([]byte, 1<<20)
	ack := []byte{1}
	got := 0
	for {
		n, err := syscall.Read(0, buf)
		if err == syscall.EINTR {
			continue
		}
		if n <= 0 {
			return
		}
		for got += n; got >= size; got -= size {
			for {
				_, err = syscall.Write(1, ack)
				if err != syscall.EINTR {
					break
				}
			}
			if err != nil {
				return
			}
		}
	}
}
