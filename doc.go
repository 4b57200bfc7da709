// Package mp is multiprocessing for Go: what Python's multiprocessing and concurrent.futures give
// Python — processes, pools, executors and futures, and in later releases queues, pipes, locks and
// shared memory — done the Go way, and better where Python is known to fail.
//
// # Why processes
//
// Goroutines already run Go code in parallel. Reach for a process when a goroutine is not enough:
// to isolate code that can crash, leak or corrupt global state (cgo, third-party libraries); to
// stop work for real — a goroutine cannot be killed, a process can; to give work its own heap and
// resource limits; or to port Python code that is built around multiprocessing.
//
// # The model
//
// Go cannot fork a running runtime, so a child is this program's own binary executed again (the
// kernel's link to the running binary is used, so replacing the file on disk does not matter). The
// child runs package initialisation, then Init — which must be the first statement of main —
// learns over an inherited control socket which registered function to run and with what
// argument, runs it, reports, and exits:
//
//	var Square = mp.Register("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
//	func main() {
//		mp.Init()          // in a child: runs the task and exits; here: returns at once
//		defer mp.Cleanup() // on return: terminate daemon children, wait for the others
//
//		v, err := mp.Run(context.Background(), Square, 7) // 49, computed in a child process
//		...
//	}
//
// Functions cross the process boundary by registered name, never as closures; arguments and
// results by value, encoded as CBOR (exported fields only; channels and functions are an error
// naming the type, reported when the process starts). Decoding never runs code and is bounded.
//
// # What mp guarantees
//
//   - A child never outlives its parent, however the parent ends (return from main, os.Exit, a
//     panic, SIGKILL): on Linux the kernel kills it through a parent-death signal set from a
//     thread that lives as long as the child (Go issue 27505); everywhere, the child also kills
//     itself when its control socket reports that the parent is gone.
//   - A child is always reaped, by one goroutine that owns it, whether or not Wait is called: no
//     zombies.
//   - A child inherits no descriptors but standard input, output and error (its output goes to the
//     parent's unless redirected) and its control socket.
//   - An error returned in a child keeps its identity: errors.Is matches every sentinel registered
//     with RegisterError (this package's, and those of context, io, io/fs and os, are registered
//     already) and a wrapped syscall.Errno; a panic is a *PanicError with the child's stack.
//   - A child that reaches mp without having called Init fails loudly and starts nothing: no fork
//     bombs.
//   - A pool worker that dies mid-task fails that task only (ErrWorkerDied, with pid and exit
//     status) and is replaced; a cancelled or timed-out task is stopped in its worker, which is
//     killed and replaced if the task does not return in time; a pool whose workers cannot start
//     reports ErrBrokenPool rather than respawning for ever.
//
// # Pools
//
//	p, err := mp.NewPool(ctx, mp.WithWorkers(4))
//	defer p.Close()
//	squares, err := mp.Map(ctx, p, Square, []int{1, 2, 3}) // [1 4 9]
//	fut := mp.Submit(ctx, p, Square, 7)                    // a *Future[int]
//	v, err := fut.Wait(ctx)                                // 49
//
// Pool calls are package functions (methods cannot have type parameters): Apply, Submit, Map,
// MapSeq and MapSeqUnordered.
//
// # Platforms
//
// Linux is first-class. macOS uses the control socket alone to tie children to their parent.
// Everything compiles on Windows, where starting a child returns ErrNotSupported.
package mp
