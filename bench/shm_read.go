//go:build unix

package bench

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// shmSize is the size of shm_read's segments and of its floor's buffers: 256 MiB.
const shmSize = 256 << 20

// shmRead is workload k: a child reading a large shared memory segment.
var shmRead = &Workload{
	Name:         "shm_read",
	What:         "a child opens a 256 MiB named mp.SharedMemory by name and sums it as uint64s",
	Unit:         "GB/s",
	Kind:         Throughput,
	Samples:      10,
	QuickSamples: 3,
	MP: func(ctx context.Context, s Size) (Result, error) {
		named, handle, err := ShmRead(ctx, s.N, shmSize)
		if err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op":         "mp.CreateSharedMemory(name, 256 MiB), filled with 0x01; a child (mp.Run) does mp.OpenSharedMemory(name, size) and sums Bytes() as uint64s (4 accumulators), timed by the child from before the open to the end of the sum",
			"hot_op":     "the same child sums the segment again, its mapping warm",
			"handle_op":  "mp.CreateSharedMemory(\"\", 256 MiB) (anonymous) handed to a child as its task argument (mapped before the function runs); the child's first sum, timed from the function's start",
			"size_bytes": shmSize, "GB": "1e9 bytes",
		}}
		for i, n := range named {
			r.Samples = append(r.Samples, gbps(shmSize, n.FirstNs))
			r.addExtra("hot_gbps", gbps(shmSize, n.HotNs))
			r.addExtra("handle_gbps", gbps(shmSize, handle[i].FirstNs))
			r.addExtra("handle_hot_gbps", gbps(shmSize, handle[i].HotNs))
		}
		return r, nil
	},
	Floor: func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		copies, sums, err := MemoryBandwidth(s.N, shmSize)
		if err != nil {
			return Result{}, err
		}
		attach, err := AttachSum(s.N, shmSize)
		if err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op":         "copy() of one 256 MiB buffer into another in this process (both mapped and touched first): bytes copied per second",
			"sum_op":     "the sum of a warm 256 MiB buffer as uint64s in this process, the loop of shm_read's children",
			"attach_op":  "Linux: a fresh read-only MAP_SHARED mapping of a filled 256 MiB memfd (tmpfs, 4 KiB pages) and the sum, in this process: what a first read through a new mapping costs without mp",
			"size_bytes": shmSize, "GB": "1e9 bytes",
		}}
		for i := range copies {
			r.Samples = append(r.Samples, gbps(shmSize, copies[i].Nanoseconds()))
			r.addExtra("sum_gbps", gbps(shmSize, sums[i].Nanoseconds()))
		}
		for _, d := range attach {
			r.addExtra("attach_gbps", gbps(shmSize, d.Nanoseconds()))
		}
		return r, nil
	},
	FloorAlt:      "sum_gbps",
	FloorAltLabel: "warm sum",
	Python:        []string{"fork"},
	Targets:       []Target{{MinFloor: 0.8}},
}

// gbps returns n bytes in ns nanoseconds as GB (1e9 bytes) per second.
func gbps(n int, ns int64) float64 { return float64(n) / float64(ns) }

// Sum64 returns the sum of b read as native-endian uint64s (len(b) rounded down to a multiple of
// 32), with four accumulators: a plain Go loop at the speed of memory.
func Sum64(b []byte) uint64 {
	if len(b) < 32 {
		return 0
	}
	u := unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), len(b)/8)
	var s0, s1, s2, s3 uint64
	for i := 0; i+4 <= len(u); i += 4 {
		s0 += u[i]
		s1 += u[i+1]
		s2 += u[i+2]
		s3 += u[i+3]
	}
	return s0 + s1 + s2 + s3
}

func errSum(got, want uint64) error {
	return fmt.Errorf("bench: the memory floor summed %#x, want %#x", got, want)
}

// fillOnes sets every byte of b to 1, a MiB at a time (as Python's side fills its segment).
func fillOnes(b []byte) {
	const chunk = 1 << 20
	ones := make([]byte, min(chunk, len(b)))
	for i := range ones {
		ones[i] = 1
	}
	for off := 0; off < len(b); off += chunk {
		copy(b[off:], ones)
	}
}

// MemoryBandwidth maps two anonymous buffers of size bytes in this process, fills one and copies
// it into the other once unmeasured (so that every page of both is present), then n times:
// copies it (Go's copy, memmove) and sums it (Sum64), each timed: shm_read's floor. It returns
// the copies' and the sums' durations.
func MemoryBandwidth(n, size int) (copies, sums []time.Duration, err error) {
	m := func() ([]byte, error) {
		b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		return b, os.NewSyscallError("mmap", err)
	}
	src, err := m()
	if err != nil {
		return nil, nil, err
	}
	defer syscall.Munmap(src)
	dst, err := m()
	if err != nil {
		return nil, nil, err
	}
	defer syscall.Munmap(dst)
	fillOnes(src)
	copy(dst, src)
	want := uint64(size/8) * 0x0101010101010101
	for range n {
		t0 := time.Now()
		copy(dst, src)
		t1 := time.Now()
		s := Sum64(dst)
		t2 := time.Now()
		if s != want {
			return nil, nil, errSum(s, want)
		}
		copies = append(copies, t1.Sub(t0))
		sums = append(sums, t2.Sub(t1))
	}
	return copies, sums, nil
}
