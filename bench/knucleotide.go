//go:build unix

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mp-go/mp"
)

// The k-nucleotide shape (issue 11): 7 tasks get the same 64 MiB sequence each and count in it.
// mp sends the sequence through shared memory (mp.BulkThreshold): the parent copies it once into
// a sealed segment that every call shares, and each worker maps it in place of a copy. The
// knucleotide_shm variants put the sequence in an mp.SharedMemory in the first place and pass the
// segment itself: nothing is copied at all.
//
// Memory is the peak of the summed Pss (proportional set size) of the parent and its workers: a
// page shared by k of them counts 1/k in each, so the sum is the memory the program really holds.
// The summed Rss, which counts a shared page once in every process that maps it, is reported
// beside it as rss_mib. For the floor (one process) the two are the same.

const (
	// knucTasks is how many tasks get the sequence.
	knucTasks = 7
	// memPoll is how often the memory sampler reads /proc while a run is under way.
	memPoll = 5 * time.Millisecond
)

// knucSize is the sequence's length in bytes: 64 MiB; the unit tests make it smaller.
var knucSize = 64 << 20

// KCounts are the counts of the 4 nucleotides (k=1), then of the 16 pairs (k=2, overlapping).
type KCounts [20]uint64

// KCount counts the 1-mers and 2-mers of a sequence of A, C, G and T: the task of knucleotide.
var KCount = mp.Register("bench.kcount", func(ctx context.Context, seq []byte) (KCounts, error) {
	return countK(seq), nil
})

// nucIndex maps A, C, G, T to 0..3 and anything else to 4.
var nucIndex = func() (t [256]uint8) {
	for i := range t {
		t[i] = 4
	}
	t['A'], t['C'], t['G'], t['T'] = 0, 1, 2, 3
	return t
}()

func countK(seq []byte) KCounts {
	var ones [5]uint64
	var pairs [5 * 5]uint64
	prev := uint8(4)
	for _, c := range seq {
		i := nucIndex[c]
		ones[i]++
		pairs[prev*5+i]++
		prev = i
	}
	var k KCounts
	copy(k[:4], ones[:4])
	for a := range 4 {
		for b := range 4 {
			k[4+a*4+b] = pairs[a*5+b]
		}
	}
	return k
}

var (
	knucMu  sync.Mutex
	knucSeq []byte
)

// Sequence returns the 64 MiB sequence of knucleotide: A, C, G and T from a fixed generator.
func Sequence() []byte { return sequenceOf(knucSize) }

// sequenceOf returns the first n bytes of the generator's sequence (the last one made is kept).
func sequenceOf(n int) []byte {
	knucMu.Lock()
	defer knucMu.Unlock()
	if len(knucSeq) != n {
		knucSeq = make([]byte, n)
		fillSequence(knucSeq)
	}
	return knucSeq
}

// fillSequence writes the generator's sequence into b.
func fillSequence(b []byte) {
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = "ACGT"[x>>62]
	}
}

// dropSequence lets go of the sequence sequenceOf keeps, and gives its memory back to the system.
func dropSequence() {
	knucMu.Lock()
	knucSeq = nil
	knucMu.Unlock()
	debug.FreeOSMemory()
}

// KNucleotide submits KCount of seq knucTasks times to ex, then waits for every result and
// checks that they agree with want.
func KNucleotide(ctx context.Context, ex mp.Executor, seq []byte, want KCounts) error {
	futs := make([]*mp.Future[KCounts], knucTasks)
	for i := range futs {
		futs[i] = mp.Submit(ctx, ex, KCount, seq)
	}
	for _, f := range futs {
		got, err := f.Wait(ctx)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("bench: KCount = %v, want %v", got, want)
		}
	}
	return nil
}

// peakSampler samples the summed memory of a set of processes until stopped.
type peakSampler struct {
	stop chan struct{}
	done chan struct{}
	rss  int64 // KiB, the peak of the summed Rss
	pss  int64 // KiB, the peak of the summed Pss
}

// samplePeak starts sampling the processes pids() names (this process and a pool's workers).
func samplePeak(pids func() []int) *peakSampler {
	s := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(memPoll)
		defer t.Stop()
		for {
			var rss, pss int64
			for _, pid := range pids() {
				if m, err := ReadMem(pid); err == nil {
					rss += m.RSS
					pss += m.PSS
				}
			}
			s.rss, s.pss = max(s.rss, rss), max(s.pss, pss)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops the sampler and returns the peaks in MiB.
func (s *peakSampler) end() (rss, pss float64) {
	close(s.stop)
	<-s.done
	return float64(s.rss) / 1024, float64(s.pss) / 1024
}

// knucRun measures knucleotide on an executor made by start, whose processes pids lists: n
// timed runs after a warm-up run, each with its peak memory.
func knucRun(ctx context.Context, s Size, sample bool, start func(context.Context) (mp.Executor, func() []int, error), params map[string]any) (times, mem Result, err error) {
	n := min(max(s.Items, 1), knucSize)
	seq := sequenceOf(n)
	want := countK(seq)
	return knucRunWith(ctx, s, sample, start, params, func(ctx context.Context, ex mp.Executor) error {
		return KNucleotide(ctx, ex, seq, want)
	})
}

// knucRunWith measures run, which submits the 7 tasks, as knucRun does. With sample set, each run's
// peak memory is sampled too (mem); without, nothing else runs beside the tasks: the sampler
// reads /proc/PID/smaps_rollup of every process every 5 ms, which walks their page tables and
// would cost the time of a run of several processes more than that of one.
func knucRunWith(ctx context.Context, s Size, sample bool, start func(context.Context) (mp.Executor, func() []int, error), params map[string]any, run func(ctx context.Context, ex mp.Executor) error) (times, mem Result, err error) {
	n := s.N
	awaitBulkReleased()
	ex, pids, err := start(ctx)
	if err != nil {
		return Result{}, Result{}, err
	}
	defer ex.(interface{ Close() error }).Close()
	times.Params, mem.Params = params, params
	for i := -1; i < n; i++ {
		runtime.GC()
		var sp *peakSampler
		if sample {
			sp = samplePeak(pids)
		}
		t0 := time.Now()
		err := run(ctx, ex)
		took := ms(time.Since(t0))
		var rss, pss float64
		if sp != nil {
			rss, pss = sp.end()
		}
		if err != nil {
			return Result{}, Result{}, err
		}
		if i >= 0 {
			times.Samples = append(times.Samples, took)
			if sample {
				mem.Samples = append(mem.Samples, pss)
				mem.addExtra("rss_mib", rss)
			}
		}
	}
	return times, mem, nil
}

// awaitBulkReleased waits (up to 5 s) until this process maps no segment of mp's big-value cache
// ("mp-bulk" in /proc/self/maps): a previous workload's segments are let go 2 s after their last
// use, and must not count in the next workload's memory.
func awaitBulkReleased() {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		maps, err := os.ReadFile("/proc/self/maps")
		if err != nil || !bytes.Contains(maps, []byte("mp-bulk")) {
			return
		}
	}
}

// knucProcesses starts a 2-worker process pool for knucleotide.
func knucProcesses(ctx context.Context) (mp.Executor, func() []int, error) {
	p, err := StartPool(ctx, poolWorkers)
	if err != nil {
		return nil, nil, err
	}
	self := os.Getpid()
	return p, func() []int { return append([]int{self}, p.Pids()...) }, nil
}

// knucGoroutines starts the goroutine version: a 2-worker GoroutinePool.
func knucGoroutines(ctx context.Context) (mp.Executor, func() []int, error) {
	p, err := mp.NewGoroutinePool(ctx, mp.WithWorkers(poolWorkers))
	if err != nil {
		return nil, nil, err
	}
	self := os.Getpid()
	return p, func() []int { return []int{self} }, nil
}

var knucParams = map[string]any{
	"op":    "Submit(ctx, ex, KCount, seq) ×7 then Wait on each; seq is the same 64 MiB []byte; KCount counts 1- and 2-mers",
	"tasks": knucTasks, "bytes": knucSize, "workers": poolWorkers,
	"memory": "peak of the summed Pss of the parent and its workers, sampled every 5 ms; the summed Rss as rss_mib",
}

// knucleotide is the time of the k-nucleotide shape; its floor is the goroutine version.
var knucleotide = &Workload{
	Name:         "knucleotide",
	What:         "7 tasks count 1- and 2-mers in the same 64 MiB sequence: Pool(2) vs the goroutine version (the floor)",
	Unit:         "ms",
	Kind:         Latency,
	Samples:      5,
	QuickSamples: 2,
	Items:        64 << 20, // the sequence's bytes, for this workload
	QuickItems:   1 << 20,
	MP: func(ctx context.Context, s Size) (Result, error) {
		r, _, err := knucRun(ctx, s, false, knucProcesses, knucParams)
		return r, err
	},
	Floor: func(ctx context.Context, _ *Floor, s Size) (Result, error) {
		r, _, err := knucRun(ctx, s, false, knucGoroutines, knucParams)
		return r, err
	},
	Python:  []string{"fork"},
	Targets: []Target{{Floor: 1.3}, {Python: "fork", Ratio: 1}},
}

// knucleotideRSS is the peak memory of the k-nucleotide shape; its floor is the goroutine version.
var knucleotideRSS = &Workload{
	Name:         "knucleotide_rss",
	What:         "peak memory (summed Pss, parent + workers) of knucleotide: Pool(2) vs the goroutine version (the floor)",
	Unit:         "MiB",
	Kind:         Memory,
	Samples:      5,
	QuickSamples: 2,
	Items:        64 << 20, // the sequence's bytes, for this workload
	QuickItems:   1 << 20,
	MP: func(ctx context.Context, s Size) (Result, error) {
		_, r, err := knucRun(ctx, s, true, knucProcesses, knucParams)
		return r, err
	},
	Floor: func(ctx context.Context, _ *Floor, s Size) (Result, error) {
		_, r, err := knucRun(ctx, s, true, knucGoroutines, knucParams)
		return r, err
	},
	Python:  []string{"fork"},
	Targets: []Target{{Floor: 1.5}, {Python: "fork", Ratio: 1}},
}

// KCountShm counts in a sequence held in shared memory: the knucleotide_shm variants.
var KCountShm = mp.Register("bench.kcount_shm", func(ctx context.Context, seq *mp.SharedMemory) (KCounts, error) {
	defer seq.Close()
	return countK(seq.Bytes()), nil
})

// KNucleotideShm is KNucleotide with the sequence in m, an mp.SharedMemory whose segment every
// task maps: the idiom for data that many processes read in place.
func KNucleotideShm(ctx context.Context, ex mp.Executor, m *mp.SharedMemory, want KCounts) error {
	futs := make([]*mp.Future[KCounts], knucTasks)
	for i := range futs {
		futs[i] = mp.Submit(ctx, ex, KCountShm, m)
	}
	for _, f := range futs {
		got, err := f.Wait(ctx)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("bench: KCountShm = %v, want %v", got, want)
		}
	}
	return nil
}

// knucShmRun measures KNucleotideShm as knucRun measures KNucleotide. The program reads its
// input into shared memory in the first place: the sequence is generated into the segment, and
// the parent holds no other copy of it (the one sequenceOf keeps for the other workloads is let
// go first).
func knucShmRun(ctx context.Context, s Size, sample bool) (times, mem Result, err error) {
	awaitBulkReleased()
	dropSequence()
	m, err := mp.CreateSharedMemory("", min(max(s.Items, 1), knucSize))
	if err != nil {
		return Result{}, Result{}, err
	}
	defer m.Close()
	fillSequence(m.Bytes())
	want := countK(m.Bytes())
	return knucRunWith(ctx, s, sample, knucProcesses, knucShmParams, func(ctx context.Context, ex mp.Executor) error {
		return KNucleotideShm(ctx, ex, m, want)
	})
}

var knucShmParams = map[string]any{
	"op":    "the sequence is generated into an mp.SharedMemory before the runs (the parent holds no other copy), then Submit(ctx, ex, KCountShm, shm) ×7; the floor is the goroutine version of knucleotide, with a []byte",
	"tasks": knucTasks, "bytes": knucSize, "workers": poolWorkers,
	"memory": "peak of the summed Pss of the parent and its workers, sampled every 5 ms; the summed Rss as rss_mib",
}

// knucleotideShm is knucleotide with the sequence in shared memory from the start.
var knucleotideShm = &Workload{
	Name:         "knucleotide_shm",
	What:         "knucleotide with the sequence in an mp.SharedMemory passed to each task: Pool(2) vs the goroutine version (the floor)",
	Unit:         "ms",
	Kind:         Latency,
	Samples:      5,
	QuickSamples: 2,
	Items:        64 << 20,
	QuickItems:   1 << 20,
	MP: func(ctx context.Context, s Size) (Result, error) {
		r, _, err := knucShmRun(ctx, s, false)
		return r, err
	},
	Floor: func(ctx context.Context, _ *Floor, s Size) (Result, error) {
		r, _, err := knucRun(ctx, s, false, knucGoroutines, knucShmParams)
		return r, err
	},
	Targets: []Target{{Floor: 1.3}},
}

// knucleotideShmRSS is the peak memory of knucleotideShm.
var knucleotideShmRSS = &Workload{
	Name:         "knucleotide_shm_rss",
	What:         "peak memory (summed Pss, parent + workers) of knucleotide_shm: Pool(2) vs the goroutine version (the floor)",
	Unit:         "MiB",
	Kind:         Memory,
	Samples:      5,
	QuickSamples: 2,
	Items:        64 << 20,
	QuickItems:   1 << 20,
	MP: func(ctx context.Context, s Size) (Result, error) {
		_, r, err := knucShmRun(ctx, s, true)
		return r, err
	},
	Floor: func(ctx context.Context, _ *Floor, s Size) (Result, error) {
		_, r, err := knucRun(ctx, s, true, knucGoroutines, knucShmParams)
		return r, err
	},
	Targets: []Target{{Floor: 1.5}},
}
