// Command shared_counter has several processes increment one counter in shared memory, Python's
// multiprocessing.Value('i', 0), many times each. Run it and you see four ways to count, each with
// the total reached and the total expected: the first, with no lock, falls short. Without a lock,
// counter.value += 1 is a read, an add and a write, and increments made at the same time are lost;
// with counter.get_lock() around it the total is exact. Four ways, the same work each:
//
//  1. Store(Load()+1) with no lock: updates are lost (usually many; how many depends on the run);
//  2. v.Lock(ctx); v.Store(v.Load()+1); v.Unlock() — Python's "with counter.get_lock():";
//  3. an mp.Mutex of your own around several words: an mp.Array[int64] holding a count and a sum,
//     updated together so that sum == 1+2+…+count holds whenever the mutex is free — which no
//     atomic operation on one word can guarantee;
//  4. v.Add(1): one atomic instruction on the shared word, no lock at all. Python has no such
//     operation.
//
// The workers of each way wait at an mp.Barrier before counting, so that they count at the same
// time rather than one after the other as they start. Each way prints the total the processes
// reached and the total they should have reached.
//
//	go run ./examples/shared_counter
//	go run ./examples/shared_counter -procs 8 -n 100000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// Way says how a worker increments the counter.
type Way int

const (
	NoLock Way = iota
	ValueLock
	MutexArray
	AtomicAdd
)

// Arg is what every worker process gets.
type Arg struct {
	Way     Way
	N       int
	Counter *mp.Value[int64]
	Pair    *mp.Array[int64] // [count, sum of 1..count]
	Mu      *mp.Mutex        // guards Pair
	Start   *mp.Barrier      // of all the workers: they start counting together
}

// Increment increments the shared counter N times, the way a.Way says.
var Increment = mp.Register("shared_counter.increment", func(ctx context.Context, a Arg) (int, error) {
	if _, err := a.Start.Wait(ctx); err != nil {
		return 0, err
	}
	switch a.Way {
	case NoLock:
		for range a.N {
			a.Counter.Store(a.Counter.Load() + 1) // counter.value += 1
		}
	case ValueLock:
		for range a.N {
			if err := a.Counter.Lock(ctx); err != nil { // with counter.get_lock():
				return 0, err
			}
			a.Counter.Store(a.Counter.Load() + 1) //     counter.value += 1
			a.Counter.Unlock()
		}
	case MutexArray:
		pair := a.Pair.Slice()
		for range a.N {
			if err := a.Mu.Lock(ctx); err != nil {
				return 0, err
			}
			pair[0]++
			pair[1] += pair[0]
			a.Mu.Unlock()
		}
	case AtomicAdd:
		for range a.N {
			a.Counter.Add(1)
		}
	}
	return os.Getpid(), nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	procs := flag.Int("procs", 4, "worker processes")
	n := flag.Int("n", 100000, "increments per process")
	flag.Parse()
	ctx := context.Background()
	want := int64(*procs) * int64(*n)
	fmt.Printf("main pid=%d: %d processes × %d increments each: the total should be %d\n", os.Getpid(), *procs, *n, want)

	for _, way := range []struct {
		title string
		way   Way
	}{
		{"no lock: counter.Store(counter.Load() + 1)", NoLock},
		{"the Value's lock: counter.Lock(ctx); counter.Store(counter.Load() + 1); counter.Unlock()", ValueLock},
		{"an mp.Mutex around an mp.Array[int64] of two words: count++; sum += count", MutexArray},
		{"atomic: counter.Add(1)", AtomicAdd},
	} {
		fmt.Printf("== %s ==\n", way.title)
		counter, err := mp.NewValue[int64](0) // counter = multiprocessing.Value('q', 0)
		if err != nil {
			log.Fatal(err)
		}
		pair, err := mp.NewArray[int64](2)
		if err != nil {
			log.Fatal(err)
		}
		mu, err := mp.NewMutex()
		if err != nil {
			log.Fatal(err)
		}
		start, err := mp.NewBarrier(*procs)
		if err != nil {
			log.Fatal(err)
		}
		arg := Arg{Way: way.way, N: *n, Counter: counter, Pair: pair, Mu: mu, Start: start}

		t0 := time.Now()
		var ps []*mp.Process
		for range *procs {
			p := mp.NewProcess(Increment, arg)
			if err := p.Start(ctx); err != nil {
				log.Fatal(err)
			}
			ps = append(ps, p)
		}
		var pids []int
		for _, p := range ps {
			if err := p.Wait(ctx); err != nil {
				log.Fatal(err)
			}
			pids = append(pids, p.Pid())
		}
		elapsed := time.Since(t0)
		fmt.Printf("processes %v\n", pids)

		if way.way == MutexArray {
			p := pair.Slice()
			fmt.Printf("count=%d (want %d) sum=%d (want %d)\n", p[0], want, p[1], want*(want+1)/2)
		} else {
			got := counter.Load()
			fmt.Printf("total=%d (want %d): %d updates lost\n", got, want, want-got)
		}
		fmt.Printf("in %v, starting the processes included\n", elapsed.Round(time.Millisecond))
		for _, c := range []interface{ Close() error }{counter, pair, mu, start} {
			if err := c.Close(); err != nil {
				log.Fatal(err)
			}
		}
	}
}
