// Command robust_mutex shows what becomes of a lock whose holder dies. With Python's
// multiprocessing.Lock, a process killed while holding the lock never releases it: every other
// process that calls acquire() waits for ever (the same hang that a consumer killed inside
// queue.get() causes).
//
// mp.Mutex is robust: it records its holder's pid, and when the holder dies holding it, the next
// Lock takes it over and returns mp.ErrOwnerDead. The caller then holds the lock — as with
// pthread's robust mutexes, EOWNERDEAD — and should repair whatever the dead holder left half
// done before unlocking. Here a child locks the mutex, announces it through an mp.Event, and is
// killed with SIGKILL; the main process's next Lock returns mp.ErrOwnerDead, within about
// 100 ms (a waiter checks whether the holder is alive whenever it has waited that long in vain),
// and the mutex works as before afterwards.
//
//	go run ./examples/robust_mutex
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// HolderArg is what the child gets: the mutex, and an event to say it holds it.
type HolderArg struct {
	Mu     *mp.Mutex
	Locked *mp.Event
}

// Holder locks the mutex and never unlocks it: it waits to be killed.
var Holder = mp.Register("robust_mutex.holder", func(ctx context.Context, a HolderArg) (struct{}, error) {
	if err := a.Mu.Lock(ctx); err != nil {
		return struct{}{}, err
	}
	fmt.Printf("child pid=%d: locked the mutex; I will never unlock it\n", os.Getpid())
	if err := a.Locked.Set(); err != nil {
		return struct{}{}, err
	}
	<-ctx.Done()
	return struct{}{}, ctx.Err()
})

// Locker locks and unlocks the mutex, as any later user of it does.
var Locker = mp.Register("robust_mutex.locker", func(ctx context.Context, mu *mp.Mutex) (struct{}, error) {
	err := mu.Lock(ctx)
	fmt.Printf("child pid=%d: Lock returned %v\n", os.Getpid(), err)
	if err != nil {
		return struct{}{}, err
	}
	mu.Unlock()
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()

	mu, err := mp.NewMutex() // lock = multiprocessing.Lock()
	check(err)
	locked, err := mp.NewEvent()
	check(err)
	fmt.Printf("main pid=%d: starting a child that locks the mutex\n", os.Getpid())
	p := mp.NewProcess(Holder, HolderArg{Mu: mu, Locked: locked})
	check(p.Start(ctx))
	check(locked.Wait(ctx))
	ok, err := mu.TryLock()
	fmt.Printf("main: the child (pid %d) holds the mutex: TryLock() = %t, %v\n", p.Pid(), ok, err)

	check(p.Kill()) // p.kill(): SIGKILL, while it holds the mutex
	err = p.Wait(ctx)
	fmt.Printf("main: killed the child: Wait returned %v; ExitCode()=%d\n", err, p.ExitCode())

	// Python: lock.acquire() here waits for ever. The timeout is only a guard.
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = mu.Lock(lctx)
	fmt.Printf("main: Lock returned %v; errors.Is(err, mp.ErrOwnerDead) = %t\n", err, errors.Is(err, mp.ErrOwnerDead))
	if !errors.Is(err, mp.ErrOwnerDead) {
		log.Fatal("want mp.ErrOwnerDead")
	}
	fmt.Printf("main: I hold the mutex now: Locked() = %t\n", mu.Locked())
	fmt.Println("main: (here the data the mutex guards would be repaired) unlocking")
	mu.Unlock()

	_, err = mp.Run(ctx, Locker, mu)
	check(err)
	err = mu.Lock(ctx)
	fmt.Printf("main: Lock returned %v: the mutex works as before\n", err)
	check(err)
	mu.Unlock()
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
