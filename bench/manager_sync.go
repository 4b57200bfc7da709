//go:build unix

package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/mp-go/mp"
)

// The manager's synchronisation objects and batched dict operations from another process,
// against Python's SyncManager: Manager().Lock(), .Event(), .Queue(), and 100 gets or one
// update() of a Manager().dict(). Every op is a round trip to the manager (mp's managed
// objects live in the manager, as Python's do; they are what remote clients use).

// SyncOpsJob is what ManagerSyncOps gets: the objects, what to time, how many.
type SyncOpsJob struct {
	Op     string // "mutex", "queue"
	Mu     *mp.ManagedMutex
	Q      *mp.ManagedQueue[string]
	N      int
	Warmup int
}

// ManagerSyncOps runs, in a child, j.N Lock+Unlock pairs of j.Mu or Put+Get pairs of a 16-byte
// string on j.Q, after j.Warmup, and returns each pair's time.
var ManagerSyncOps = mp.Register("bench.manager_sync_ops", func(ctx context.Context, j SyncOpsJob) ([]time.Duration, error) {
	op := func() error {
		if j.Op == "mutex" {
			if err := j.Mu.Lock(ctx); err != nil {
				return err
			}
			return j.Mu.Unlock(ctx)
		}
		if err := j.Q.Put(ctx, "vvvvvvvvvvvvvvvv"); err != nil {
			return err
		}
		v, err := j.Q.Get(ctx)
		if err == nil && v != "vvvvvvvvvvvvvvvv" {
			err = fmt.Errorf("manager_queue: got %q", v)
		}
		return err
	}
	for range j.Warmup {
		if err := op(); err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, j.N)
	for range j.N {
		t0 := time.Now()
		if err := op(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
})

// syncWorkload is a workload whose samples ManagerSyncOps takes in a child.
func syncWorkload(name, what, op, params string) *Workload {
	return &Workload{
		Name:         name,
		What:         what,
		Unit:         "µs",
		Kind:         Latency,
		Samples:      5000,
		QuickSamples: 200,
		MP: func(ctx context.Context, s Size) (Result, error) {
			m, err := mp.StartManager(ctx)
			if err != nil {
				return Result{}, err
			}
			defer m.Close()
			j := SyncOpsJob{Op: op, N: s.N, Warmup: managerDictWarmup}
			if op == "mutex" {
				if j.Mu, err = mp.NewManagedMutex(ctx, m); err != nil {
					return Result{}, err
				}
				defer j.Mu.Close()
			} else {
				if j.Q, err = mp.NewManagedQueue[string](ctx, m, 0); err != nil {
					return Result{}, err
				}
				defer j.Q.Close()
			}
			ops, err := mp.Run(ctx, ManagerSyncOps, j)
			if err != nil {
				return Result{}, err
			}
			r := Result{Params: map[string]any{"op": params, "warmup": managerDictWarmup,
				"transport": "Unix stream socket to the manager, CBOR frames with request ids"}}
			for _, d := range ops {
				r.Samples = append(r.Samples, us(d))
			}
			return r, nil
		},
		Python: []string{"fork"},
	}
}

var managerMutex = syncWorkload("manager_mutex",
	"a child locks and unlocks an mp.ManagedMutex of an mp.StartManager manager; Python: Manager().Lock() acquire()+release(); each pair timed",
	"mutex", "m, _ := mp.StartManager(ctx); mu, _ := mp.NewManagedMutex(ctx, m); in a child: mu.Lock(ctx) + mu.Unlock(ctx), N times")

var managerQueue = syncWorkload("manager_queue",
	"a child puts a 16-byte string on an mp.ManagedQueue[string] and gets it back; Python: Manager().Queue() put()+get(); each pair timed",
	"queue", "q, _ := mp.NewManagedQueue[string](ctx, m, 0); in a child: q.Put(ctx, 16 bytes) + q.Get(ctx), N times")

// EventEchoJob is what ManagerEventEcho gets: the two events and how many round trips.
type EventEchoJob struct {
	Go, Back *mp.ManagedEvent
	N        int
}

// ManagerEventEcho waits for Go, clears it and sets Back, j.N times.
var ManagerEventEcho = mp.Register("bench.manager_event_echo", func(ctx context.Context, j EventEchoJob) (struct{}, error) {
	for range j.N {
		if err := j.Go.Wait(ctx); err != nil {
			return struct{}{}, err
		}
		if err := j.Go.Clear(ctx); err != nil {
			return struct{}{}, err
		}
		if err := j.Back.Set(ctx); err != nil {
			return struct{}{}, err
		}
	}
	return struct{}{}, nil
})

// managerEvent is event_latency with managed events: the parent sets go and waits for back, a
// child waits for go, clears it and sets back, the parent clears back.
var managerEvent = &Workload{
	Name:         "manager_event",
	What:         "two mp.ManagedEvents: the parent Sets go and Waits for back; a child Waits for go, Clears it and Sets back; the parent Clears back; half of each timed round trip; Python: the same with Manager().Event()",
	Unit:         "µs",
	Kind:         Latency,
	Samples:      2000,
	QuickSamples: 200,
	MP: func(ctx context.Context, s Size) (Result, error) {
		m, err := mp.StartManager(ctx)
		if err != nil {
			return Result{}, err
		}
		defer m.Close()
		var j EventEchoJob
		if j.Go, err = mp.NewManagedEvent(ctx, m); err != nil {
			return Result{}, err
		}
		defer j.Go.Close()
		if j.Back, err = mp.NewManagedEvent(ctx, m); err != nil {
			return Result{}, err
		}
		defer j.Back.Close()
		j.N = managerDictWarmup + s.N
		p := mp.NewProcess(ManagerEventEcho, j)
		if err := p.Start(ctx); err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op":     "go.Set(ctx); back.Wait(ctx) timed, then back.Clear(ctx); the child: go.Wait(ctx), go.Clear(ctx), back.Set(ctx)",
			"warmup": managerDictWarmup,
		}}
		rerr := func() error {
			for i := -managerDictWarmup; i < s.N; i++ {
				t0 := time.Now()
				if err := j.Go.Set(ctx); err != nil {
					return err
				}
				if err := j.Back.Wait(ctx); err != nil {
					return err
				}
				dt := time.Since(t0)
				if err := j.Back.Clear(ctx); err != nil {
					return err
				}
				if i >= 0 {
					r.Samples = append(r.Samples, us(dt)/2)
					r.addExtra("round_trip_us", us(dt))
				}
			}
			return nil
		}()
		if err := p.Wait(ctx); err != nil && rerr == nil {
			rerr = err
		}
		return r, rerr
	},
	Python: []string{"fork"},
}

// BatchOpsJob is what ManagerBatchOps gets: the dict, how many GetMany and SetMany of 100 keys
// to time.
type BatchOpsJob struct {
	D      *mp.Dict[string, string]
	N      int
	Warmup int
}

// batchKeys is how many keys one GetMany or SetMany of manager_batch100 has.
const batchKeys = 100

// ManagerBatchOps runs, in a child, j.N SetMany of 100 keys (16-byte strings), then j.N
// GetMany of them, after j.Warmup of each, and returns each op's time.
var ManagerBatchOps = mp.Register("bench.manager_batch_ops", func(ctx context.Context, j BatchOpsJob) ([]time.Duration, error) {
	const val = "vvvvvvvvvvvvvvvv"
	keys := make([]string, batchKeys)
	kv := make(map[string]string, batchKeys)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
		kv[keys[i]] = val
	}
	out := make([]time.Duration, 0, 2*j.N)
	for i := -j.Warmup; i < j.N; i++ {
		t0 := time.Now()
		if err := j.D.SetMany(ctx, kv); err != nil {
			return nil, err
		}
		if i >= 0 {
			out = append(out, time.Since(t0))
		}
	}
	for i := -j.Warmup; i < j.N; i++ {
		t0 := time.Now()
		got, err := j.D.GetMany(ctx, keys)
		if err != nil {
			return nil, err
		}
		if i >= 0 {
			out = append(out, time.Since(t0))
		}
		if len(got) != batchKeys || got["k7"] != val {
			return nil, fmt.Errorf("manager_batch100: GetMany returned %d values", len(got))
		}
	}
	return out, nil
})

// managerBatch100 is a batch of 100 keys of a manager's dict from another process: mp's GetMany
// and SetMany; Python has no batched get (100 d[k]) and a batched set (d.update(kv)).
var managerBatch100 = &Workload{
	Name:         "manager_batch100",
	What:         "a child SetManys then GetManys 100 keys (16-byte strings) of an mp.Dict; Python: d.update(kv) and 100 d[k] on a Manager().dict(); a sample is one SetMany and one GetMany, each timed (their medians in the extras)",
	Unit:         "µs",
	Kind:         Latency,
	Samples:      1000,
	QuickSamples: 50,
	MP: func(ctx context.Context, s Size) (Result, error) {
		m, err := mp.StartManager(ctx)
		if err != nil {
			return Result{}, err
		}
		defer m.Close()
		d, err := mp.NewDict[string, string](ctx, m)
		if err != nil {
			return Result{}, err
		}
		defer d.Close()
		ops, err := mp.Run(ctx, ManagerBatchOps, BatchOpsJob{D: d, N: s.N, Warmup: managerDictWarmup / 10})
		if err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op":     "in a child: d.SetMany(ctx, kv) of 100 keys N times, then d.GetMany(ctx, keys) N times; sample i is SetMany i + GetMany i",
			"warmup": managerDictWarmup / 10,
			"path":   "Linux: the dict's shared-memory table, one taking of its lock a batch; elsewhere one frame each way (go test -bench ManagerDictBatch)",
		}}
		if len(ops) != 2*s.N {
			return Result{}, fmt.Errorf("manager_batch100: %d timings from the child; want %d", len(ops), 2*s.N)
		}
		var sets, gets []float64
		for i := range s.N {
			set, get := ops[i], ops[s.N+i]
			r.Samples = append(r.Samples, us(set+get))
			sets = append(sets, us(set))
			gets = append(gets, us(get))
		}
		r.Extra = map[string][]float64{"setmany_us": sets, "getmany_us": gets}
		return r, nil
	},
	Python: []string{"fork"},
}
