package mp

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// What the pools tell an observer (observe.go): the state both kinds of pool keep for Snapshot
// and Observe. Counting a call's outcome is one atomic add; an event is built only while a
// subscriber exists, which costs one atomic load per call otherwise.

// observeRing is how many worker exits and failures a pool keeps, and how many running maps it
// tracks.
const observeRing = 64

// poolObs is a pool's observable state: its name, outcome counters, the rings of recent exits
// and failures, the Maps running on it and the subscribers of Observe.
type poolObs struct {
	name string
	kind string

	succeeded, failed, cancelled, timedOut, died, retried atomic.Uint64

	subs atomic.Pointer[[]*subscriber] // nil while nobody observes

	mu       sync.Mutex // guards what follows; never held while taking a pool's lock
	subList  []*subscriber
	exits    obsRing[WorkerExit]
	failures obsRing[TaskFailure]
	maps     map[*mapTrack]struct{}
	exitN    map[ExitReason]uint64
}

type subscriber struct{ fn func(TaskEvent) }

var poolNames atomic.Int64

// init names the pool (name, or kind and a number) and readies its maps.
func (o *poolObs) init(name, kind string) {
	if name == "" {
		name = kind + "-" + strconv.FormatInt(poolNames.Add(1), 10)
	}
	o.name, o.kind = name, kind
	o.maps = make(map[*mapTrack]struct{})
	o.exitN = make(map[ExitReason]uint64)
}

// obsRing keeps the last observeRing values added, oldest first.
type obsRing[T any] struct {
	buf  []T
	next int // where the next value goes once buf is full
}

func (r *obsRing[T]) add(v T) {
	if len(r.buf) < observeRing {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % observeRing
}

// list returns a copy, oldest first.
func (r *obsRing[T]) list() []T {
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}

// outcomeOf names the outcome of a call that ended with err, as TaskEvent.Outcome does.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrWorkerDied):
		return "died"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, ErrClosed):
		return "cancelled"
	default:
		return "failed"
	}
}

// callEnd is what a pool knows of a call when it completes.
type callEnd struct {
	task     string
	pid      int
	items    int
	queuedAt int64 // unix ns; 0 when unknown (nobody observed when it was queued)
	ranAt    int64 // unix ns of the start of its last attempt; 0 if it never started
	attempts int
	err      error
}

// complete counts a call's outcome, keeps it if it failed, and tells the subscribers.
func (o *poolObs) complete(e callEnd) {
	subs := o.subs.Load()
	if e.err == nil {
		o.succeeded.Add(1)
		if subs == nil {
			return
		}
	}
	outcome := outcomeOf(e.err)
	var now time.Time
	var ran time.Duration
	if e.err != nil || subs != nil {
		now = time.Now()
		if e.ranAt != 0 {
			ran = now.Sub(time.Unix(0, e.ranAt))
		}
	}
	switch outcome {
	case "died":
		o.died.Add(1)
	case "timeout":
		o.timedOut.Add(1)
	case "cancelled":
		o.cancelled.Add(1)
	case "failed":
		o.failed.Add(1)
	}
	if outcome != "ok" && outcome != "cancelled" {
		f := TaskFailure{At: now, Task: e.task, Pid: e.pid, Err: e.err, Error: e.err.Error(), Code: errorCode(e.err), Attempts: max(1, e.attempts), Ran: ran}
		var pe *PanicError
		if errors.As(e.err, &pe) {
			f.Stack = pe.Stack
		}
		o.mu.Lock()
		o.failures.add(f)
		o.mu.Unlock()
	}
	if subs == nil {
		return
	}
	ev := TaskEvent{Task: e.task, Pid: e.pid, Items: e.items, Ran: ran, Outcome: outcome, Err: e.err}
	if e.queuedAt != 0 && e.ranAt != 0 {
		ev.Queued = time.Duration(e.ranAt - e.queuedAt)
	}
	for _, s := range *subs {
		s.fn(ev)
	}
}

// observing reports whether anybody observes: a pool stamps a call's queue time only then.
func (o *poolObs) observing() bool { return o.subs.Load() != nil }

// observe adds fn to the subscribers until the returned function is called.
func (o *poolObs) observe(fn func(TaskEvent)) (stop func()) {
	if fn == nil {
		return func() {}
	}
	s := &subscriber{fn}
	o.mu.Lock()
	o.subList = append(o.subList, s)
	o.publishLocked()
	o.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			for i, x := range o.subList {
				if x == s {
					o.subList = append(o.subList[:i:i], o.subList[i+1:]...)
					break
				}
			}
			o.publishLocked()
			o.mu.Unlock()
		})
	}
}

func (o *poolObs) publishLocked() {
	if len(o.subList) == 0 {
		o.subs.Store(nil)
		return
	}
	l := append([]*subscriber(nil), o.subList...)
	o.subs.Store(&l)
}

// addExit records a worker's end.
func (o *poolObs) addExit(e WorkerExit) {
	o.mu.Lock()
	o.exits.add(e)
	o.exitN[e.Reason]++
	o.mu.Unlock()
}

// linkReplacement records that worker id replaced worker old, on old's exit if it is recorded.
func (o *poolObs) linkReplacement(old, id int) {
	o.mu.Lock()
	for i := range o.exits.buf {
		if o.exits.buf[i].ID == old && o.exits.buf[i].ReplacedBy == 0 {
			o.exits.buf[i].ReplacedBy = id
		}
	}
	o.mu.Unlock()
}

// fill sets the parts of a snapshot that poolObs keeps; submitted is the pool's count of the
// calls it accepted (the IDs it gave).
func (o *poolObs) fill(s *PoolSnapshot, submitted uint64) {
	s.Name, s.Kind = o.name, o.kind
	s.Counts = TaskCounts{
		Submitted: submitted, Succeeded: o.succeeded.Load(), Failed: o.failed.Load(),
		Cancelled: o.cancelled.Load(), TimedOut: o.timedOut.Load(), WorkerDied: o.died.Load(),
		Retried: o.retried.Load(),
	}
	o.mu.Lock()
	s.Exits = o.exits.list()
	s.ExitCounts = make(map[ExitReason]uint64, len(o.exitN))
	for r, n := range o.exitN {
		s.ExitCounts[r] = n
	}
	s.Failures = o.failures.list()
	s.Maps = make([]MapProgress, 0, len(o.maps))
	for m := range o.maps {
		s.Maps = append(s.Maps, MapProgress{Task: m.task, Started: m.started, Done: int(m.done.Load()), Total: m.total})
	}
	o.mu.Unlock()
	sort.Slice(s.Maps, func(i, j int) bool { return s.Maps[i].Started.Before(s.Maps[j].Started) })
}

// mapTrack is one running Map or MapSeq, as a snapshot shows it.
type mapTrack struct {
	task    string
	started time.Time
	total   int
	done    *atomic.Int64
}

// trackMap starts tracking a Map of task over total items (-1 for a MapSeq), whose completed
// items done counts, and returns the function that ends it. Past observeRing running maps, new
// ones are not tracked.
func (o *poolObs) trackMap(task string, total int, done *atomic.Int64) (untrack func()) {
	m := &mapTrack{task: task, started: time.Now(), total: total, done: done}
	o.mu.Lock()
	if len(o.maps) >= observeRing {
		o.mu.Unlock()
		return func() {}
	}
	o.maps[m] = struct{}{}
	o.mu.Unlock()
	return func() {
		o.mu.Lock()
		delete(o.maps, m)
		o.mu.Unlock()
	}
}

// mapTracker is implemented by the executors of this package, which show their running maps.
type mapTracker interface {
	trackMap(task string, total int, done *atomic.Int64) (untrack func())
}

// trackMapOn tracks a map on ex if ex shows its maps.
func trackMapOn(ex Executor, task string, total int, done *atomic.Int64) (untrack func()) {
	if t, ok := ex.(mapTracker); ok {
		return t.trackMap(task, total, done)
	}
	return func() {}
}

// errorCode returns the registered code of err (RegisterError, RegisterErrorType): that of the
// first error of a registered type in its chain, else that of the sentinel it matches that was
// registered last (a program's own sentinels come after this package's), "" if none.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	code := ""
	errorRegistry.RLock()
	defer errorRegistry.RUnlock()
	if len(errorRegistry.byType) > 0 {
		walkChain(err, func(e error) {
			if code == "" {
				if et, ok := errorRegistry.byType[reflect.TypeOf(e)]; ok {
					code = et.code
				}
			}
		})
		if code != "" {
			return code
		}
	}
	for i := len(errorRegistry.errs) - 1; i >= 0; i-- {
		if errors.Is(err, errorRegistry.errs[i]) {
			return errorRegistry.codes[i]
		}
	}
	return ""
}

// timeOfUnixNano is the time of a unix-ns stamp, the zero time for 0.
func timeOfUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
