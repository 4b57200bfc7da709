// Command manager_dict is the manager lesson: 50 processes each take one off d["count"], which
// starts at 50, in a dict held by a manager process (Python's Manager().dict()). It runs three
// ways:
//
//   - lock: each process reads the count, then writes it back less one, holding an mp.Mutex
//     (Python's `with lock: d["count"] -= 1`). The count ends at 0.
//
//   - nolock: the same without the lock. d["count"] -= 1 is a read and a write, two round trips
//     to the manager; to make the race show on every run, each process waits at an mp.Barrier
//     of all the processes between its read and its write, so every one reads 50 and writes
//     49: 49 updates are lost.
//
//   - update: each process calls mp.Update with a registered function, which the manager runs
//     atomically on the value: no lock, no lost update. The count ends at 0.
//
//     go run ./examples/manager_dict              # all three
//     go run ./examples/manager_dict -mode nolock -n 10
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/mp-go/mp"
)

// Arg is what each process gets: the dict (a proxy: the manager's address, not the data), and
// the lock or the barrier its mode uses.
type Arg struct {
	D    *mp.Dict[string, int]
	Mode string
	Mu   *mp.Mutex
	All  *mp.Barrier
}

// Decrement is run by the manager, atomically, on d["count"].
var Decrement = mp.RegisterUpdate("manager_dict.decrement", func(ctx context.Context, count int, ok bool, _ struct{}) (int, error) {
	return count - 1, nil
})

// Worker takes one off d["count"].
var Worker = mp.Register("manager_dict.worker", func(ctx context.Context, a Arg) (struct{}, error) {
	switch a.Mode {
	case "update":
		_, err := mp.Update(ctx, a.D, "count", Decrement, struct{}{})
		return struct{}{}, err
	case "lock":
		if err := a.Mu.Lock(ctx); err != nil {
			return struct{}{}, err
		}
		defer a.Mu.Unlock()
	}
	n, _, err := a.D.Get(ctx, "count")
	if err != nil {
		return struct{}{}, err
	}
	if a.Mode == "nolock" {
		// Every process has read before any writes: the race, made certain.
		if _, err := a.All.Wait(ctx); err != nil {
			return struct{}{}, err
		}
	}
	return struct{}{}, a.D.Set(ctx, "count", n-1)
})

func run(ctx context.Context, m *mp.Manager, mode string, n int) error {
	d, err := mp.NewDict[string, int](ctx, m)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Set(ctx, "count", n); err != nil {
		return err
	}
	mu, err := mp.NewMutex()
	if err != nil {
		return err
	}
	defer mu.Close()
	all, err := mp.NewBarrier(n)
	if err != nil {
		return err
	}
	defer all.Close()
	fmt.Printf("%s: d = {\"count\": %d}; %d processes each take one off\n", mode, n, n)
	var ps []*mp.Process
	for range n {
		p := mp.NewProcess(Worker, Arg{D: d, Mode: mode, Mu: mu, All: all})
		if err := p.Start(ctx); err != nil {
			return err
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			return err
		}
	}
	items, err := d.Items(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%s: final d = {\"count\": %d}; %d updates lost\n", mode, items["count"], items["count"])
	return nil
}

func main() {
	mp.Init()
	defer mp.Cleanup()
	mode := flag.String("mode", "lock,nolock,update", "comma-separated: lock, nolock, update")
	n := flag.Int("n", 50, "processes")
	flag.Parse()
	ctx := context.Background()

	m, err := mp.StartManager(ctx) // Python's Manager(): a server process holding the objects
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Printf("main pid=%d: manager pid=%d\n", os.Getpid(), m.Pid())
	for _, md := range strings.Split(*mode, ",") {
		if err := run(ctx, m, md, *n); err != nil {
			log.Fatal(err)
		}
	}
	if err := m.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
}
