package mp

import (
	"context"
	"fmt"
	"time"
)

// PoolOption configures a Pool; pass options to NewPool.
type PoolOption interface {
	applyPool(*poolConfig) error
}

// CallOption configures one call on a pool: Submit, Apply, Map, MapSeq, MapSeqUnordered.
type CallOption interface {
	applyCall(*callConfig) error
}

type poolConfig struct {
	workers     int
	maxTasks    int
	initFunc    string
	initArg     []byte
	initFDs     []int                         // descriptors of the handles in initArg, sent to every worker for the pool's life
	initEncode  func() ([]byte, []int, error) // encodes the initializer's argument, for NewPool
	initLocal   func(context.Context) error   // runs the initializer in this process, for NewGoroutinePool
	taskTimeout time.Duration
	memoryLimit int64
	cancelGrace time.Duration
	retries     int
	env         []string
	startWorker startWorkerFunc // how workers are started: startOSWorker but in tests
	name        string          // WithPoolName
}

// buildPoolConfig applies opts, skipping nil ones, to the defaults.
func buildPoolConfig(opts []PoolOption) (poolConfig, error) {
	cfg := defaultPoolConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyPool(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func defaultPoolConfig() poolConfig {
	return poolConfig{workers: NumCPU(), cancelGrace: defaultCancelGrace, startWorker: startOSWorker}
}

type callConfig struct {
	chunk       int
	progress    func(Progress)
	taskTimeout time.Duration
	retries     int // -1: the pool's
}

type poolOptionFunc func(*poolConfig) error

func (f poolOptionFunc) applyPool(c *poolConfig) error { return f(c) }

// WithWorkers sets the number of worker processes. The default is NumCPU(): the CPUs this process
// may use, honouring its affinity mask and cgroup CPU quota. n < 1 is an ErrInvalidOption.
func WithWorkers(n int) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: WithWorkers(%d): a pool needs at least one worker", ErrInvalidOption, n)
		}
		c.workers = n
		return nil
	})
}

// WithPoolName names the pool for those who watch it: its Snapshot's Name, a dashboard's heading,
// the pool label of its metrics. The default is its kind and a number ("process-1",
// "goroutine-2"). An empty name is an ErrInvalidOption.
func WithPoolName(name string) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		if name == "" {
			return fmt.Errorf("%w: WithPoolName(\"\"): give the pool a name, or leave the option out", ErrInvalidOption)
		}
		c.name = name
		return nil
	})
}

// WithMaxTasksPerWorker recycles a worker after it has run k tasks (a chunk of a Map counts as
// one): it finishes them, exits, and a fresh worker takes its place — Python's maxtasksperchild,
// for code that leaks. The default, 0, keeps workers for the life of the pool. k < 0 is an
// ErrInvalidOption.
func WithMaxTasksPerWorker(k int) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		if k < 0 {
			return fmt.Errorf("%w: WithMaxTasksPerWorker(%d)", ErrInvalidOption, k)
		}
		c.maxTasks = k
		return nil
	})
}

// WithInitializer runs f(ctx, arg) once in each worker, before its first task: Python's
// initializer and initargs. If it fails in the first workers, NewPool returns its error; if it
// arg may hold handles (a Queue for the workers to share, say), as a task argument may. If it
// fails in workers started later (to replace ones that died), the pool stops replacing them after
// three failures in a row and reports ErrBrokenPool, rather than spawning for ever.
func WithInitializer[T, R any](f *Func[T, R], arg T) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		if f == nil {
			return fmt.Errorf("%w: WithInitializer with a nil *Func", ErrNotRegistered)
		}
		c.initFunc = f.name
		c.initEncode = func() ([]byte, []int, error) { return encodeArg("initializer argument of "+f.name, arg) }
		c.initLocal = func(ctx context.Context) error { _, err := f.fn(ctx, arg); return err }
		return nil
	})
}

// WithTaskTimeout bounds each task: its context in the worker is cancelled once it has run for d,
// the caller gets context.DeadlineExceeded at once, and if the task has not returned within the
// pool's cancel grace (WithCancelGrace) after that, its worker is killed and replaced. As a pool
// option it applies to every task; as a call option, to that call's tasks (each item of a Map).
// d <= 0 is an ErrInvalidOption.
func WithTaskTimeout(d time.Duration) PoolCallOption {
	return taskTimeout(d)
}

// PoolCallOption is an option that configures either a whole pool (given to NewPool) or one call
// (given to Submit, Apply, Map, MapSeq or MapSeqUnordered), where the call's wins.
type PoolCallOption interface {
	PoolOption
	CallOption
}

// WithRetries runs a task again, on another worker, when the worker running it dies (a crash, a
// SIGKILL, the memory cap), up to n more times: Ray's max_retries. The default, 0, fails the task
// with ErrWorkerDied the first time, as a task that kills its worker would kill every worker it is
// given. After the last attempt the error still matches ErrWorkerDied and says how many attempts
// ran. A task whose function returned, or returned an error, is never run again; nor is one that
// was cancelled or timed out. As a pool option it applies to every task; as a call option, to that
// call's tasks (each chunk of a Map). n < 0 is an ErrInvalidOption.
func WithRetries(n int) PoolCallOption { return retries(n) }

type retries int

func (r retries) check() error {
	if r < 0 {
		return fmt.Errorf("%w: WithRetries(%d): the number of retries cannot be negative", ErrInvalidOption, int(r))
	}
	return nil
}

func (r retries) applyPool(c *poolConfig) error {
	c.retries = int(r)
	return r.check()
}

func (r retries) applyCall(c *callConfig) error {
	c.retries = int(r)
	return r.check()
}

type taskTimeout time.Duration

func (t taskTimeout) check() error {
	if t <= 0 {
		return fmt.Errorf("%w: WithTaskTimeout(%v): the timeout must be positive", ErrInvalidOption, time.Duration(t))
	}
	return nil
}

func (t taskTimeout) applyPool(c *poolConfig) error {
	c.taskTimeout = time.Duration(t)
	return t.check()
}

func (t taskTimeout) applyCall(c *callConfig) error {
	c.taskTimeout = time.Duration(t)
	return t.check()
}

// WithWorkerMemoryLimit recycles a worker whose resident memory exceeds bytes: it finishes the
// tasks it has, exits, and a fresh worker takes its place. The pool checks every 100 ms (Linux
// only; elsewhere the option is accepted and has no effect). bytes < 1 is an ErrInvalidOption.
func WithWorkerMemoryLimit(bytes int64) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		if bytes < 1 {
			return fmt.Errorf("%w: WithWorkerMemoryLimit(%d)", ErrInvalidOption, bytes)
		}
		c.memoryLimit = bytes
		return nil
	})
}

// WithWorkerEnv adds "KEY=value" entries to the environment the workers inherit, as WithEnv does
// for a Process.
func WithWorkerEnv(kv ...string) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		var p Process
		if err := WithEnv(kv...).applyProcess(&p); err != nil {
			return err
		}
		c.env = append(c.env, p.env...)
		return nil
	})
}

type callOptionFunc func(*callConfig) error

func (f callOptionFunc) applyCall(c *callConfig) error { return f(c) }

// WithChunkSize sends the items of a Map, MapSeq or MapSeqUnordered to workers n at a time. By
// default Map picks a size that gives each worker about four chunks (Python's rule), and the
// MapSeq variants start at one item and grow the size while tasks are tiny. Larger chunks cost less per item; smaller ones balance
// uneven tasks better and lose less when a worker dies. n < 1 is an ErrInvalidOption.
func WithChunkSize(n int) CallOption {
	return callOptionFunc(func(c *callConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: WithChunkSize(%d)", ErrInvalidOption, n)
		}
		c.chunk = n
		return nil
	})
}

// Progress reports how far a Map has got.
type Progress struct {
	Done    int           // items finished
	Total   int           // items in all (-1 for a MapSeq, whose input length is unknown)
	Elapsed time.Duration // since the call started
}

// Rate returns the items finished per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// WithProgress calls fn with the progress of a Map, MapSeq or MapSeqUnordered at most every
// 100 ms, and once more when the call ends. fn runs in its own goroutine, one call at a time.
func WithProgress(fn func(Progress)) CallOption {
	return callOptionFunc(func(c *callConfig) error {
		if fn == nil {
			return fmt.Errorf("%w: WithProgress(nil)", ErrInvalidOption)
		}
		c.progress = fn
		return nil
	})
}

func buildCallConfig(opts []CallOption) (callConfig, error) {
	c := callConfig{retries: -1}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyCall(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}
