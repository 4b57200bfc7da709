// Package mp is multiprocessing for Go: what Python's multiprocessing and concurrent.futures give
// Python — processes, pools, executors and futures, queues and pipes, locks, events, barriers and
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
// results by value, encoded as CBOR (exported fields only: Register refuses, at init, a type with
// a field the codec would drop or cannot encode, naming the field and the fix; values behind
// interfaces are checked when they are encoded). Decoding never runs code and is bounded.
//
// Package variables are not shared: a child sees each as its initialiser set it, not as the
// parent changed it before starting the child. Python's fork start method copies the parent's
// module globals; mp works like Python's spawn. Pass what a task needs in its argument (or put
// it in a Value, an Array or shared memory).
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
//     already) and a wrapped syscall.Errno, and errors.As finds, with its exported fields, an error
//     of a type registered with RegisterErrorType anywhere in the child's chain (Python's except
//     with a custom exception class); decoding those fields runs none of the type's code. Any
//     other error arrives as a *ProcessError with the child's message and type name, which says
//     how to register a type of yours; a panic is a *PanicError with the child's stack.
//   - A child that reaches mp without having called Init fails loudly and starts nothing: no fork
//     bombs.
//   - A pool worker that dies mid-task fails exactly the task it was running (ErrWorkerDied, with
//     pid and exit status, unless WithRetries asks for another attempt) and is replaced; the tasks
//     it was sent but had not started run on other workers, and a task whose function returned is
//     never run again; a cancelled or timed-out task is stopped in its worker, which is
//     killed and replaced if the task does not return in time; a pool whose workers cannot start
//     reports ErrBrokenPool rather than respawning for ever.
//   - Bytes another process wrote — a Conn's messages, handle envelopes, a queue's shared memory,
//     control frames, the codec's input — never panic the receiver, never leak a descriptor that
//     came with them, and never make it hold more memory than a small multiple of the bytes that
//     actually arrived, whatever a header announces: a bad message is an error matching
//     ErrDecode or ErrProtocol. A Conn's message over its limit (DefaultMaxMessage, or
//     WithMaxMessage) is refused with ErrTooLarge as its header arrives; see Conn and
//     DecodeLimits.
//
// # Pools and executors
//
//	p, err := mp.NewPool(ctx, mp.WithWorkers(4))
//	defer p.Close()
//	squares, err := mp.Map(ctx, p, Square, []int{1, 2, 3}) // [1 4 9]
//	fut := mp.Submit(ctx, p, Square, 7)                    // a *Future[int]
//	v, err := fut.Wait(ctx)                                // 49
//
// Pool calls are package functions (methods cannot have type parameters): Apply, Submit, Map,
// MapSeq and MapSeqUnordered. They take an Executor: a *Pool (worker processes), a
// *GoroutinePool (goroutines of this process: Python's ThreadPool), or a backend of another
// package, such as a cluster's. The same code runs on each; only the constructor changes.
//
// # Queues, pipes and handles
//
//	q, err := mp.NewQueue[Job](10)            // shared by every process it is handed to
//	jobs, err := mp.NewJoinableQueue[Job](0)  // with TaskDone and Join
//	a, b, err := mp.Pipe[string]()            // two *Conn[string]; mp.OneWay() for (receive, send)
//
// A Queue lives in shared memory: Put encodes synchronously and returns its error, and once it
// returns nil the value is in the queue, whatever happens to the producer next; Get is robust to
// a consumer killed in the middle (see Queue). Shutdown ends a queue for every process (later Puts
// fail, Gets drain what is left, then fail, with ErrClosed): that is how producers say "no more".
// Close releases only this process's handle, as every Close does (see Handles). A Conn is a Unix
// socket; Recv reports io.EOF once the other end is closed in every process.
//
// # Handles
//
// A handle is a value that stands for an object of the operating system: *Queue, *JoinableQueue,
// *Conn, *Mutex, *Semaphore, *Event, *Cond, *Barrier, *Value, *Array, *SharedMemory, *os.File,
// and with package mpnet net.Conn and net.Listener. Handles may be placed in a task or Process
// argument (in a struct field, a slice, at any depth) or sent over a Conn: they arrive as working
// handles to the same object, their descriptors passed by SCM_RIGHTS. They cannot be put on a
// Queue, nor returned as a result. Handles in maps, or inside values of interface type other than
// the handle itself, are an error when the task is submitted; encoding one with the cbor package
// directly is an ErrEncode error (that is what their MarshalCBOR methods are for).
//
// Every mp handle follows the same rules:
//
//   - Close releases this process's hold on the object: its descriptor, and its mapping (at once,
//     or as the type's Close says). The object lives on in every other process that holds it,
//     and in this process's other handles to it. Close is idempotent, and does nothing on a nil
//     handle. The one operation that ends an object for everybody is Queue.Shutdown (Python
//     3.13's Queue.shutdown: puts fail, gets drain what is left and then fail).
//   - A nil pointer, a zero value (a handle not made by its constructor, such as
//     var q mp.Queue[int]) and a handle after Close are all "closed". On a closed handle, a
//     method with an error result returns an error wrapping ErrClosed, and a method without one
//     panics with such an error; the message names the type and what to do. Calling one is a bug
//     (use after Close), never a nil-pointer crash. The exceptions are Close itself, String
//     (which describes the handle as nil or closed), and SharedMemory.Unlink, which acts on the
//     name and works after Close.
//   - A Get, Join, Wait, Acquire or Recv that is waiting returns an error wrapping ErrClosed when
//     another goroutine of this process closes the handle. A Lock waits on, until it has the lock
//     or its ctx ends.
//
// Each type's doc says whether it is safe for concurrent use (all are), how it reaches a child,
// and what it costs. The figures are medians on a 2-core Linux VM shared with other work, from
// go run ./bench/compare -python none (the workload is named) or from the package's own
// benchmarks (go test -bench Semaphore|ValueAdd|CondPingPong|Barrier); expect them to vary.
//
//	type Work struct {
//		In  *mp.Queue[Job]
//		Out *mp.Conn[Result]
//	}
//	var Worker = mp.Register("worker", func(ctx context.Context, w Work) (struct{}, error) { ... })
//	p := mp.NewProcess(Worker, Work{In: q, Out: b})
//
// # Locks and shared memory
//
// Mutex, Semaphore, Event, Cond and Barrier are futex words in shared memory; Value, Array and
// SharedMemory are shared memory itself. All are handles. A Mutex whose holder dies is taken over
// by the next Lock, which returns ErrOwnerDead so that the caller can repair what it guards; a
// Semaphore gives back a dead holder's permits; a Barrier whose waiting party dies breaks.
//
//	m, _ := mp.NewMutex()
//	total, _ := mp.NewValue[int64](0)
//	// in each child, handed m and total:
//	if err := m.Lock(ctx); err != nil && !errors.Is(err, mp.ErrOwnerDead) { return err }
//	total.Store(total.Load() + 1)
//	m.Unlock()
//
// # Managers, listeners and clients
//
// A Manager (StartManager) is a server process that holds objects for other processes —
// NewDict, NewList, NewNamespace, NewManagedValue — used through proxies: Python's Manager().
// A proxy is data (the manager's address, a secret token, the object's id), so it travels in task
// arguments, pool calls, Queues and Conns; each process opens one connection per manager, on
// first use. Update and Add make read-modify-write atomic; a dead manager fails every call with
// ErrManagerDead.
//
//	m, _ := mp.StartManager(ctx)
//	d, _ := mp.NewDict[string, int](ctx, m)
//	// in each child, handed d:
//	_, err := mp.Add(ctx, d, "count", -1)
//
// A Go type of your own can live in a manager too (Python's BaseManager.register): register it
// and its constructor with RegisterManagedType, expose the methods other processes may call with
// Expose, make a value with NewManagedObject, and call through the Method handles. The methods
// run in the manager, one at a time per object, so the type needs no lock; a method not exposed
// cannot be called (ErrNotExposed); errors keep their identity, and a result that holds proxies
// arrives as live proxies.
//
//	var Counter = mp.RegisterManagedType("shop.counter", newCounter) // func(ctx, *mp.Manager, A) (*Counter, error)
//	var Incr = mp.Expose(Counter, "Incr", (*Counter).Incr)           // func(*Counter, ctx, int) (int, error)
//	c, _ := mp.NewManagedObject(ctx, m, Counter, start)
//	n, err := Incr.Call(ctx, c, 5)
//
// Listen, Accept and Dial are Python's multiprocessing.connection.Listener and Client, with its
// framing and its HMAC-SHA256 challenge (WithAuthKey), so that mp and CPython programs talk to
// each other; they give a *Conn[T] with a pipe's methods, which carries no handles. The root
// package resolves no host names and does not do TLS (it does not import net, which would make
// every mp binary slower to start): package mpnet's Listen, ListenTLS, Dial and DialTLS do.
//
// # Platforms
//
// Linux is first-class. macOS uses the control socket alone to tie children to their parent, and
// queues there wait by polling with a short sleep where Linux uses futexes.
// Everything compiles on Windows, where starting a child returns ErrNotSupported.
package mp
