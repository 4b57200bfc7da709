package mp

import "time"

// This file declares what an executor tells an observer (a dashboard, metrics, `mp top`): a
// snapshot of its state on demand, and the events of its tasks to whoever subscribes. A pool that
// nobody observes pays for neither: counters are plain atomics, and events are built only while
// an observer is subscribed.

// PoolSnapshot is an executor's state at one moment, as Snapshot returns it.
type PoolSnapshot struct {
	// Name is the pool's name (WithPoolName), or a name made from its kind and a number.
	Name string `json:"name"`
	// Kind says which executor it is: "process" (a *Pool), "goroutine" (a *GoroutinePool), or
	// another package's name for its own (mpnats says "nats").
	Kind string `json:"kind"`
	// Size is the number of workers the pool keeps (WithWorkers).
	Size int `json:"size"`
	// Queued is how many calls wait in the pool for a worker; Running how many run now.
	Queued  int `json:"queued"`
	Running int `json:"running"`
	// Paused reports whether the pool's intake is paused (Pause): queued calls wait, none starts.
	Paused bool `json:"paused"`
	// Closed reports whether the pool was shut down or closed.
	Closed bool `json:"closed"`
	// Counts are the pool's task outcomes since it started.
	Counts TaskCounts `json:"counts"`
	// Workers are the pool's live workers, oldest first.
	Workers []WorkerSnapshot `json:"workers"`
	// Exits are the most recent worker ends, oldest first, at most 64.
	Exits []WorkerExit `json:"exits"`
	// ExitCounts counts every worker end since the pool started, by reason (Exits keeps only the
	// last ones).
	ExitCounts map[ExitReason]uint64 `json:"exit_counts"`
	// Failures are the most recent failed calls, oldest first, at most 64.
	Failures []TaskFailure `json:"failures"`
	// Maps are the Map and MapSeq calls running on the pool.
	Maps []MapProgress `json:"maps"`
	// Cluster is set by executors that span hosts.
	Cluster *ClusterSnapshot `json:"cluster"`
}

// TaskCounts counts an executor's calls by outcome. A chunk of a Map counts as one call.
type TaskCounts struct {
	Submitted  uint64 `json:"submitted"`   // calls accepted
	Succeeded  uint64 `json:"succeeded"`   // completed without error
	Failed     uint64 `json:"failed"`      // completed with the function's error or a panic
	Cancelled  uint64 `json:"cancelled"`   // ended by their context or an abort
	TimedOut   uint64 `json:"timed_out"`   // ended by their task timeout
	WorkerDied uint64 `json:"worker_died"` // failed because their worker died (after the retries)
	Retried    uint64 `json:"retried"`     // attempts started again after a worker died
}

// WorkerSnapshot is one worker of an executor.
type WorkerSnapshot struct {
	// Pid is the worker's process ID (0 for a goroutine worker); Host the host it runs on ("" for
	// this one).
	Pid  int    `json:"pid"`
	Host string `json:"host"`
	// ID numbers the pool's workers in the order they started, from 1.
	ID int `json:"id"`
	// State is "starting", "idle", "busy" or "retiring".
	State string `json:"state"`
	// Task is the registered name of the function the worker runs now ("" when idle); TaskID
	// identifies the call (for CancelTask), and TaskStarted is when it started.
	Task        string    `json:"task"`
	TaskID      uint64    `json:"task_id"`
	TaskStarted time.Time `json:"task_started"`
	// Started is when the worker started; TasksDone how many calls it completed.
	Started   time.Time `json:"started"`
	TasksDone uint64    `json:"tasks_done"`
	// Replaces is the ID of the worker whose end started this one, 0 for one of the first.
	Replaces int `json:"replaces"`
	// RSS is the worker's resident memory in bytes, and CPU its CPU time (user and system), both
	// read when the snapshot is taken; 0 where the system does not say.
	RSS uint64        `json:"rss"`
	CPU time.Duration `json:"cpu_ns"`
}

// ExitReason says why a worker ended.
type ExitReason string

// The reasons a worker ends.
const (
	ExitSignal    ExitReason = "signal"     // killed by a signal it did not ask for (SIGKILL from outside, say)
	ExitCode      ExitReason = "exit"       // the process exited by itself (os.Exit(n)) while it should not have
	ExitMemory    ExitReason = "memory"     // it went over WithWorkerMemoryLimit
	ExitMaxTasks  ExitReason = "max-tasks"  // it completed WithMaxTasksPerWorker calls and was retired
	ExitTimeout   ExitReason = "timeout"    // killed because a call overran its task timeout and the cancel grace
	ExitCancel    ExitReason = "cancel"     // killed because a cancelled call did not return within the cancel grace
	ExitPanic     ExitReason = "panic"      // a panic outside a call's recovery ended it
	ExitRecycled  ExitReason = "recycled"   // Recycle asked for it
	ExitShutdown  ExitReason = "shutdown"   // the pool was shut down or closed
	ExitStartFail ExitReason = "start-fail" // it failed before it could serve
)

// WorkerExit is one worker's end.
type WorkerExit struct {
	ID     int        `json:"id"`
	Pid    int        `json:"pid"`
	Host   string     `json:"host"`
	At     time.Time  `json:"at"`
	Reason ExitReason `json:"reason"`
	// Detail is the human-readable account: the signal, the exit code, the task it ran.
	Detail string `json:"detail"`
	// Task is the function the worker was running when it ended, if any.
	Task string `json:"task"`
	// ReplacedBy is the ID of the worker started in its place, 0 if none.
	ReplacedBy int `json:"replaced_by"`
}

// TaskFailure is one failed call.
type TaskFailure struct {
	At   time.Time `json:"at"`
	Task string    `json:"task"` // the registered function
	Pid  int       `json:"pid"`  // the worker that ran it (0 for a goroutine)
	Host string    `json:"host"`
	// Err is the call's error: errors.Is and errors.As work on it as on the Future's.
	Err error `json:"-"`
	// Error is Err's message, for JSON.
	Error string `json:"error"`
	// Code is the error's registered identity (RegisterError, RegisterErrorType), "" if none.
	Code string `json:"code"`
	// Stack is the worker's stack for a panic, "" otherwise.
	Stack string `json:"stack"`
	// Attempts is how many times the call was started.
	Attempts int `json:"attempts"`
	// Ran is how long the last attempt ran.
	Ran time.Duration `json:"ran_ns"`
}

// MapProgress is one Map or MapSeq call in progress.
type MapProgress struct {
	Task    string    `json:"task"` // the registered function
	Started time.Time `json:"started"`
	Done    int       `json:"done"`  // items completed
	Total   int       `json:"total"` // items in all; -1 for a MapSeq whose input has not ended
}

// ClusterSnapshot is what an executor spanning hosts adds to its snapshot.
type ClusterSnapshot struct {
	Agents      []AgentSnapshot `json:"agents"`
	Redelivered uint64          `json:"redelivered"`  // task deliveries beyond the first
	Duplicates  uint64          `json:"duplicates"`   // results received for a call that had already completed, dropped
	PendingAcks uint64          `json:"pending_acks"` // tasks delivered to agents and not yet acknowledged
}

// AgentSnapshot is one host's agent in a cluster.
type AgentSnapshot struct {
	Name      string    `json:"name"`
	Host      string    `json:"host"`
	Pid       int       `json:"pid"`
	Version   string    `json:"version"` // the agent binary's registered-functions hash
	Slots     int       `json:"slots"`
	Busy      int       `json:"busy"`
	RSS       uint64    `json:"rss"`
	LastBeat  time.Time `json:"last_beat"`
	Lost      bool      `json:"lost"` // its heartbeats stopped
	TasksDone uint64    `json:"tasks_done"`
}

// TaskEvent is one call's completion, given to the functions subscribed with Observe.
type TaskEvent struct {
	Task   string
	Pid    int
	Host   string
	Items  int           // 0 for a single call; the chunk's items for a Map chunk
	Queued time.Duration // from Execute to the start of its last attempt
	Ran    time.Duration // the last attempt's run
	// Outcome is "ok", "failed", "cancelled", "timeout" or "died".
	Outcome string
	Err     error
}

// Observer is implemented by executors that can be watched: *Pool and *GoroutinePool, and
// other packages' executors (mpnats's pool).
type Observer interface {
	// Snapshot returns the executor's state now.
	Snapshot() PoolSnapshot
	// Observe calls fn with every call's completion until stop is called. fn runs on the
	// goroutine that completes the call and must not block.
	Observe(fn func(TaskEvent)) (stop func())
}

// Controller is implemented by executors whose work can be steered from outside (a dashboard's
// buttons): *Pool and *GoroutinePool, and mpnats's pool.
type Controller interface {
	// CancelTask cancels the running or queued call with the ID a snapshot gave (TaskID), as its
	// context's end would: a *Pool kills the worker if the call does not return within the cancel
	// grace. It returns an error matching ErrNotFound when no such call is pending.
	CancelTask(id uint64) error
	// Recycle retires the worker with the ID a snapshot gave, after the call it runs; a new one
	// takes its place. It returns an error matching ErrNotFound when no such worker lives.
	Recycle(workerID int) error
	// Pause stops the executor's intake: queued calls wait and no new one starts until Resume.
	// Calls that run already go on.
	Pause()
	// Resume undoes Pause.
	Resume()
}
