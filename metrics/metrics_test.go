//go:build unix

package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/metrics"
	"github.com/mp-go/mp/mptest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMain(m *testing.M) { mptest.Main(m) }

var (
	errNope = mp.RegisterError("metrics_test.nope", errors.New("nope"))
	square  = mp.Register("metrics_test.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	fail    = mp.Register("metrics_test.fail", func(ctx context.Context, x int) (int, error) { return 0, errNope })
)

// TestCollector: the collector reports a real pool's outcomes, workers, exits and durations, a
// queue's length and a manager's stats, under names that pass Prometheus's lint.
func TestCollector(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := mp.NewPool(ctx, mp.WithWorkers(2), mp.WithPoolName("work"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	q, err := mp.NewQueue[int](10)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	m, err := mp.StartManager(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	c := metrics.New()
	defer c.Close()
	if err := c.AddPool(p); err != nil {
		t.Fatal(err)
	}
	if err := c.AddPool(p); err == nil || !strings.Contains(err.Error(), "WithPoolName") {
		t.Fatalf("AddPool of a second pool named work = %v", err)
	}
	if err := c.AddQueue("jobs", q); err != nil {
		t.Fatal(err)
	}
	if err := c.AddManager("state", m); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	for i := range 3 {
		if _, err := mp.Apply(ctx, p, square, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mp.Apply(ctx, p, fail, 1); !errors.Is(err, errNope) {
		t.Fatalf("Apply(fail) = %v", err)
	}
	q.Put(ctx, 1)
	q.Put(ctx, 2)
	q.Put(ctx, 3)
	if _, err := q.Get(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := mp.NewDict[string, int](ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := d.Set(ctx, "k", i); err != nil {
			t.Fatal(err)
		}
	}
	st, err := m.Stats(ctx) // Stats does not count itself
	if err != nil || st.Ops < 4 {
		t.Fatalf("manager Stats = %+v, %v; want at least 4 operations (a NewDict and 3 Sets)", st, err)
	}

	want := `
# HELP mp_pool_tasks_completed_total Calls completed, by outcome (ok, failed, cancelled, timeout, died).
# TYPE mp_pool_tasks_completed_total counter
mp_pool_tasks_completed_total{outcome="cancelled",pool="work"} 0
mp_pool_tasks_completed_total{outcome="died",pool="work"} 0
mp_pool_tasks_completed_total{outcome="failed",pool="work"} 1
mp_pool_tasks_completed_total{outcome="ok",pool="work"} 3
mp_pool_tasks_completed_total{outcome="timeout",pool="work"} 0
# HELP mp_pool_size The number of workers the pool keeps (WithWorkers).
# TYPE mp_pool_size gauge
mp_pool_size{pool="work"} 2
# HELP mp_queue_length Values in the queue.
# TYPE mp_queue_length gauge
mp_queue_length{queue="jobs"} 2
# HELP mp_queue_capacity The queue's item limit, 0 for none.
# TYPE mp_queue_capacity gauge
mp_queue_capacity{queue="jobs"} 10
# HELP mp_manager_up 1 if the manager answered its Stats within a second, else 0.
# TYPE mp_manager_up gauge
mp_manager_up{manager="state"} 1
# HELP mp_queue_puts_total Values put on the queue, by every process.
# TYPE mp_queue_puts_total counter
mp_queue_puts_total{queue="jobs"} 3
# HELP mp_queue_gets_total Values got from the queue, by every process.
# TYPE mp_queue_gets_total counter
mp_queue_gets_total{queue="jobs"} 1
# HELP mp_manager_ops_total Operations on the manager's objects, by every client (those a Dict's clients run on its shared table included).
# TYPE mp_manager_ops_total counter
mp_manager_ops_total{manager="state"} ` + fmt.Sprint(st.Ops) + `
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mp_pool_tasks_completed_total", "mp_pool_size", "mp_queue_length", "mp_queue_capacity", "mp_manager_up", "mp_queue_puts_total", "mp_queue_gets_total", "mp_manager_ops_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c, "mp_task_duration_seconds"); n != 5 { // a series per outcome
		t.Fatalf("%d duration series, want 5", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sampled uint64
	var rss float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "mp_task_duration_seconds":
			for _, m := range mf.GetMetric() {
				sampled += m.GetHistogram().GetSampleCount()
			}
		case "mp_pool_workers_resident_memory_bytes":
			rss = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if sampled != 4 || rss < 1<<20 {
		t.Fatalf("%d durations observed (want 4), workers' RSS %v", sampled, rss)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}

	// A worker SIGKILLed from outside is counted by reason.
	if err := syscall.Kill(p.Snapshot().Workers[0].Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mp_pool_worker_exits_total Worker ends, by reason (signal, exit, memory, max-tasks, timeout, cancel, panic, recycled, shutdown, start-fail).
# TYPE mp_pool_worker_exits_total counter
mp_pool_worker_exits_total{pool="work",reason="cancel"} 0
mp_pool_worker_exits_total{pool="work",reason="exit"} 0
mp_pool_worker_exits_total{pool="work",reason="max-tasks"} 0
mp_pool_worker_exits_total{pool="work",reason="memory"} 0
mp_pool_worker_exits_total{pool="work",reason="panic"} 0
mp_pool_worker_exits_total{pool="work",reason="recycled"} 0
mp_pool_worker_exits_total{pool="work",reason="shutdown"} 0
mp_pool_worker_exits_total{pool="work",reason="signal"} 1
mp_pool_worker_exits_total{pool="work",reason="start-fail"} 0
mp_pool_worker_exits_total{pool="work",reason="timeout"} 0
`), "mp_pool_worker_exits_total")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A closed queue drops out instead of failing the scrape.
	q.Close()
	if n := testutil.CollectAndCount(c, "mp_queue_length"); n != 0 {
		t.Fatalf("%d mp_queue_length series for a closed queue", n)
	}
}

// TestCollectorBadInput: what the collector refuses, it says.
func TestCollectorBadInput(t *testing.T) {
	c := metrics.New()
	if err := c.AddPool(nil); err == nil {
		t.Fatal("AddPool(nil) accepted")
	}
	if err := c.AddQueue("", nil); err == nil {
		t.Fatal("AddQueue without a name accepted")
	}
	if err := c.AddManager("m", nil); err == nil {
		t.Fatal("AddManager(nil) accepted")
	}
}

// lenCap is a queue with a length and a capacity and no counts (as a managed queue's proxy).
type lenCap struct{}

func (lenCap) Len() int { return 4 }
func (lenCap) Cap() int { return 8 }

// TestCollectorQueueWithoutStats: a queue without Stats has its length and capacity, and no
// puts and gets series.
func TestCollectorQueueWithoutStats(t *testing.T) {
	c := metrics.New()
	defer c.Close()
	if err := c.AddQueue("sized", lenCap{}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c, "mp_queue_length", "mp_queue_capacity"); n != 2 {
		t.Fatalf("%d length and capacity series; want 2", n)
	}
	if n := testutil.CollectAndCount(c, "mp_queue_puts_total", "mp_queue_gets_total"); n != 0 {
		t.Fatalf("%d puts and gets series for a queue without Stats; want 0", n)
	}
}
