// Command tickets is a ticket-grabbing program: ten buyer processes race for the one ticket in a
// file. Run it without -lock and every buyer prints "bought a ticket!": they all read count=1
// before any wrote 0. Run it with -lock and one buyer buys the ticket while the others print
// "sold out!".
//
// The file, db.txt, holds {"count": 1}; each buyer process searches (prints how many tickets are
// left), then buys: it reads the file, sleeps to simulate network I/O, and if count > 0 decrements
// it and writes the file back. The Python version of this program avoids the race by running the
// buyers one by one (p.start(); p.join() in the loop): the data is safe, at the cost of all
// parallelism. The better fix is a multiprocessing.Lock around the read-modify-write, so that only
// that part runs one buyer at a time:
//
//	with lock:
//	    res = json.load(open('db.txt'))
//	    if res['count'] > 0:
//	        res['count'] -= 1
//	        json.dump(res, open('db.txt', 'w'))
//
// In Go: the buyers are child processes; the lock is an mp.Mutex in their argument, shared by
// every process that holds it.
//
//   - -lock=false: the race. A sleep between the read and the write only makes the race likely;
//     here every buyer also waits at an mp.Barrier of all the buyers after its read, so that all
//     of them have read count=1 before any writes: every buyer "buys" the last ticket, on every
//     run.
//   - -lock=true: the read, the sleep and the write happen under the mp.Mutex: one buyer buys the
//     ticket, the others read count=0 and find it sold out; the file ends at {"count":0}.
//
// In both modes the buyers first search, then wait at a barrier ("the sale opens"), so every
// buyer sees one ticket left and they all try to buy at the same moment.
//
//	go run ./examples/tickets              # without a lock: every buyer gets the one ticket
//	go run ./examples/tickets -lock        # with an mp.Mutex: exactly one
//	go run ./examples/tickets -lock -n 15 -unit 100ms
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mp-go/mp"
)

// DB is the content of db.txt: {"count": 1}.
type DB struct {
	Count int `json:"count"`
}

// BuyerArg is what a buyer process gets: the file, the time unit, the lock mode and the shared
// primitives.
type BuyerArg struct {
	Path string
	Unit time.Duration
	Lock bool
	Mu   *mp.Mutex   // held around the read-modify-write with -lock=true
	All  *mp.Barrier // of all the buyers: the sale opens; (-lock=false) every buyer has read
	Sold *mp.Value[int64]
}

func load(path string) (DB, error) {
	var db DB
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &db)
	}
	return db, err
}

func save(path string, db DB) error {
	b, err := json.Marshal(db)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// search is Python's search(): sleep, read, print what is left.
func search(a BuyerArg) error {
	time.Sleep(a.Unit) // simulated network I/O
	db, err := load(a.Path)
	if err != nil {
		return err
	}
	fmt.Printf("process %d: %d left\n", os.Getpid(), db.Count)
	return nil
}

// get is Python's get(): read, sleep, buy if there is a ticket left.
func get(ctx context.Context, a BuyerArg) error {
	if a.Lock {
		if err := a.Mu.Lock(ctx); err != nil {
			return err
		}
		defer a.Mu.Unlock()
	}
	db, err := load(a.Path)
	if err != nil {
		return err
	}
	if !a.Lock {
		// Every buyer has read before any writes: the race a sleep makes likely, made
		// certain.
		if _, err := a.All.Wait(ctx); err != nil {
			return err
		}
	}
	time.Sleep(a.Unit) // simulated network I/O
	if db.Count <= 0 {
		fmt.Printf("process %d (ppid %d): read count=%d: sold out!\n", os.Getpid(), os.Getppid(), db.Count)
		return nil
	}
	db.Count--
	if err := save(a.Path, db); err != nil {
		return err
	}
	a.Sold.Add(1)
	time.Sleep(a.Unit * 3 / 2) // simulated network I/O
	fmt.Printf("process %d (ppid %d): read count=%d: bought a ticket!\n", os.Getpid(), os.Getppid(), db.Count+1)
	return nil
}

// Buyer is Python's task(): search, then get.
var Buyer = mp.Register("tickets.buyer", func(ctx context.Context, a BuyerArg) (struct{}, error) {
	if err := search(a); err != nil {
		return struct{}{}, err
	}
	if _, err := a.All.Wait(ctx); err != nil { // the sale opens
		return struct{}{}, err
	}
	return struct{}{}, get(ctx, a)
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	lock := flag.Bool("lock", false, "hold an mp.Mutex around the read-modify-write of the file")
	n := flag.Int("n", 10, "buyer processes")
	unit := flag.Duration("unit", time.Second, "simulated network I/O: Python's time.sleep(1)")
	flag.Parse()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "tickets-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "db.txt")
	if err := save(path, DB{Count: 1}); err != nil { // db.txt = {"count": 1}
		log.Fatal(err)
	}

	mu, err := mp.NewMutex() // lock = multiprocessing.Lock()
	if err != nil {
		log.Fatal(err)
	}
	all, err := mp.NewBarrier(*n) // a barrier resets after each round: the buyers use it twice
	if err != nil {
		log.Fatal(err)
	}
	sold, err := mp.NewValue[int64](0) // the tickets sold, counted apart from the file
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("main pid=%d: db.txt = {\"count\": 1}; %d buyers; lock=%t\n", os.Getpid(), *n, *lock)

	arg := BuyerArg{Path: path, Unit: *unit, Lock: *lock, Mu: mu, All: all, Sold: sold}
	var buyers []*mp.Process
	for range *n {
		p := mp.NewProcess(Buyer, arg)
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		buyers = append(buyers, p)
	}
	var pids []int
	for _, p := range buyers {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
		pids = append(pids, p.Pid())
	}
	db, err := load(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("main: the buyers %v are done\n", pids)
	fmt.Printf("main: tickets sold: %d, of the 1 there was; db.txt says {\"count\": %d}\n", sold.Load(), db.Count)
}
