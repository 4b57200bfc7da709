// Package metrics exports what mp's pools, queues and managers tell an observer as Prometheus
// metrics: a prometheus.Collector that a program registers in its own registry.
//
//	c := metrics.New()
//	if err := c.AddPool(pool); err != nil { ... }   // any mp.Observer: *mp.Pool, *mp.GoroutinePool, mpnats's pool
//	c.AddQueue("jobs", q)                            // anything with Len and Cap (and Stats, for the totals)
//	c.AddManager("state", m)
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(c)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every metric is named mp_..., with Prometheus's units and suffixes (_total for counters,
// _seconds, _bytes). Labels are bounded by what the program made, never by what it does: the
// pool, queue or manager's name, a task's outcome, a worker's state and a worker end's reason,
// each from a short fixed list. There is no per-task label (a task ID would make a series per
// call), and no per-worker one: a replaced worker gets a new ID and pid, so per-worker series
// would grow with every replacement (with WithMaxTasksPerWorker(1), with every call); the
// workers' memory and CPU are summed per pool instead, with the largest worker's memory beside
// the sum.
//
// Adding a pool subscribes to its completions (mp.Observer.Observe) for the duration and queue
// wait histograms, which costs each call a histogram observation; Close ends the subscriptions.
package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mp-go/mp"
	"github.com/prometheus/client_golang/prometheus"
)

// Sizer is what the collector reads of a queue: *mp.Queue, *mp.JoinableQueue and a managed
// queue's proxy have it. A Sizer that is also a Counter (*mp.Queue and *mp.JoinableQueue are)
// gets mp_queue_puts_total and mp_queue_gets_total too.
type Sizer interface {
	Len() int
	Cap() int
}

// Counter is a queue that counts the values put on it and got from it: *mp.Queue and
// *mp.JoinableQueue (Stats).
type Counter interface {
	Stats() mp.QueueStats
}

// Collector is a prometheus.Collector for pools, queues and managers. Make one with New, add
// what it watches, and register it. It is safe for concurrent use.
type Collector struct {
	mu       sync.Mutex
	pools    []*poolEntry
	queues   []queueEntry
	managers []managerEntry

	duration *prometheus.HistogramVec
	wait     *prometheus.HistogramVec
}

type poolEntry struct {
	name string
	obs  mp.Observer
	stop func()
}

type queueEntry struct {
	name string
	q    Sizer
}

type managerEntry struct {
	name string
	m    *mp.Manager
}

// New returns a Collector that watches nothing yet.
func New() *Collector {
	return &Collector{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mp_task_duration_seconds",
			Help:    "How long calls ran in their worker (the last attempt), by pool and outcome. A chunk of a Map is one call.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100 µs to 26 s
		}, []string{"pool", "outcome"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mp_task_queue_wait_seconds",
			Help:    "How long calls waited in the pool before their last attempt started.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10), // 10 µs to 2.6 s
		}, []string{"pool"}),
	}
}

// outcomes are the values of the outcome label, in TaskEvent's words.
var outcomes = []string{"ok", "failed", "cancelled", "timeout", "died"}

// AddPool watches pool p under the name its snapshot gives (mp.WithPoolName). A second pool of
// the same name is an error: its series would collide.
func (c *Collector) AddPool(p mp.Observer) error {
	if p == nil {
		return fmt.Errorf("metrics: AddPool(nil): pass a pool (*mp.Pool, *mp.GoroutinePool, ...)")
	}
	name := p.Snapshot().Name
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.pools {
		if e.name == name {
			return fmt.Errorf("metrics: a pool named %q is watched already; give each pool its own name with mp.WithPoolName", name)
		}
	}
	byOutcome := make(map[string]prometheus.Observer, len(outcomes))
	for _, o := range outcomes {
		byOutcome[o] = c.duration.WithLabelValues(name, o)
	}
	wait := c.wait.WithLabelValues(name)
	stop := p.Observe(func(e mp.TaskEvent) {
		if h, ok := byOutcome[e.Outcome]; ok && e.Ran > 0 {
			h.Observe(e.Ran.Seconds())
		}
		if e.Queued > 0 {
			wait.Observe(e.Queued.Seconds())
		}
	})
	c.pools = append(c.pools, &poolEntry{name: name, obs: p, stop: stop})
	return nil
}

// AddQueue watches queue q under name. A second queue of the same name, or a nil one, is an
// error.
func (c *Collector) AddQueue(name string, q Sizer) error {
	if q == nil || name == "" {
		return fmt.Errorf("metrics: AddQueue(%q, %v): give a name and a queue", name, q)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.queues {
		if e.name == name {
			return fmt.Errorf("metrics: a queue named %q is watched already", name)
		}
	}
	c.queues = append(c.queues, queueEntry{name, q})
	return nil
}

// AddManager watches manager m under name: each scrape asks it for its Stats, within a second.
// A second manager of the same name, or a nil one, is an error.
func (c *Collector) AddManager(name string, m *mp.Manager) error {
	if m == nil || name == "" {
		return fmt.Errorf("metrics: AddManager(%q, %v): give a name and a manager", name, m)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.managers {
		if e.name == name {
			return fmt.Errorf("metrics: a manager named %q is watched already", name)
		}
	}
	c.managers = append(c.managers, managerEntry{name, m})
	return nil
}

// Close ends the collector's subscriptions to its pools' completions. It still reports their
// snapshots if scraped.
func (c *Collector) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.pools {
		e.stop()
	}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descPoolSize    = desc("mp_pool_size", "The number of workers the pool keeps (WithWorkers).", "pool")
	descPoolWorkers = desc("mp_pool_workers", "The pool's live workers, by state (starting, idle, busy, retiring).", "pool", "state")
	descPoolQueued  = desc("mp_pool_tasks_queued", "Calls waiting in the pool for a worker.", "pool")
	descPoolRunning = desc("mp_pool_tasks_running", "Calls running on the pool's workers.", "pool")
	descPoolPaused  = desc("mp_pool_paused", "1 while the pool's intake is paused (Pause), else 0.", "pool")
	descPoolClosed  = desc("mp_pool_closed", "1 once the pool was shut down or closed, else 0.", "pool")
	descSubmitted   = desc("mp_pool_tasks_submitted_total", "Calls the pool accepted.", "pool")
	descCompleted   = desc("mp_pool_tasks_completed_total", "Calls completed, by outcome (ok, failed, cancelled, timeout, died).", "pool", "outcome")
	descRetried     = desc("mp_pool_task_retries_total", "Attempts started again after a worker died (WithRetries).", "pool")
	descExits       = desc("mp_pool_worker_exits_total", "Worker ends, by reason (signal, exit, memory, max-tasks, timeout, cancel, panic, recycled, shutdown, start-fail).", "pool", "reason")
	descRSS         = desc("mp_pool_workers_resident_memory_bytes", "The resident memory of the pool's live workers, summed (Linux; 0 elsewhere).", "pool")
	descRSSMax      = desc("mp_pool_worker_resident_memory_max_bytes", "The resident memory of the pool's largest live worker (Linux; 0 elsewhere).", "pool")
	descCPU         = desc("mp_pool_workers_cpu_seconds", "The CPU time (user and system) the pool's live workers have used, summed; it drops when a worker is replaced (Linux; 0 elsewhere).", "pool")
	descMaps        = desc("mp_pool_maps_running", "Map and MapSeq calls running on the pool.", "pool")
	descAgents      = desc("mp_cluster_agents", "The cluster's agents, by whether their heartbeats stopped (lost true or false).", "pool", "lost")
	descRedelivered = desc("mp_cluster_redelivered_total", "Task deliveries beyond the first.", "pool")
	descDuplicates  = desc("mp_cluster_duplicate_results_total", "Results received for a call that had completed already, dropped.", "pool")
	descPendingAcks = desc("mp_cluster_pending_acks", "Tasks delivered to agents and not yet acknowledged.", "pool")
	descQueueLen    = desc("mp_queue_length", "Values in the queue.", "queue")
	descQueueCap    = desc("mp_queue_capacity", "The queue's item limit, 0 for none.", "queue")
	descManagerUp   = desc("mp_manager_up", "1 if the manager answered its Stats within a second, else 0.", "manager")
	descManagerObj  = desc("mp_manager_objects", "Objects the manager holds.", "manager")
	descManagerConn = desc("mp_manager_connections", "Client connections the manager serves.", "manager")
	descQueuePuts   = desc("mp_queue_puts_total", "Values put on the queue, by every process.", "queue")
	descQueueGets   = desc("mp_queue_gets_total", "Values got from the queue, by every process.", "queue")
	descManagerOps  = desc("mp_manager_ops_total", "Operations on the manager's objects, by every client (those a Dict's clients run on its shared table included).", "manager")
	allDescs        = []*prometheus.Desc{descPoolSize, descPoolWorkers, descPoolQueued, descPoolRunning, descPoolPaused, descPoolClosed, descSubmitted, descCompleted, descRetried, descExits, descRSS, descRSSMax, descCPU, descMaps, descAgents, descRedelivered, descDuplicates, descPendingAcks, descQueueLen, descQueueCap, descQueuePuts, descQueueGets, descManagerUp, descManagerObj, descManagerConn, descManagerOps}
	workerStates    = []string{"starting", "idle", "busy", "retiring"}
	exitReasons     = []mp.ExitReason{mp.ExitSignal, mp.ExitCode, mp.ExitMemory, mp.ExitMaxTasks, mp.ExitTimeout, mp.ExitCancel, mp.ExitPanic, mp.ExitRecycled, mp.ExitShutdown, mp.ExitStartFail}
)

// Describe sends the descriptions of every metric the collector reports.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	c.duration.Describe(ch)
	c.wait.Describe(ch)
}

// Collect reads each pool's snapshot, each queue's length and each manager's stats, and sends
// them as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	pools := append([]*poolEntry(nil), c.pools...)
	queues := append([]queueEntry(nil), c.queues...)
	managers := append([]managerEntry(nil), c.managers...)
	c.mu.Unlock()
	for _, e := range pools {
		collectPool(ch, e.name, e.obs.Snapshot())
	}
	for _, e := range queues {
		st, counted, ok := QueueStats(e.q)
		if !ok {
			continue // closed: it has no length any more
		}
		ch <- prometheus.MustNewConstMetric(descQueueLen, prometheus.GaugeValue, float64(st.Len), e.name)
		ch <- prometheus.MustNewConstMetric(descQueueCap, prometheus.GaugeValue, float64(st.Cap), e.name)
		if counted {
			ch <- prometheus.MustNewConstMetric(descQueuePuts, prometheus.CounterValue, float64(st.Puts), e.name)
			ch <- prometheus.MustNewConstMetric(descQueueGets, prometheus.CounterValue, float64(st.Gets), e.name)
		}
	}
	for _, e := range managers {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := e.m.Stats(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.MustNewConstMetric(descManagerUp, prometheus.GaugeValue, 0, e.name)
			continue
		}
		ch <- prometheus.MustNewConstMetric(descManagerUp, prometheus.GaugeValue, 1, e.name)
		ch <- prometheus.MustNewConstMetric(descManagerObj, prometheus.GaugeValue, float64(st.Objects), e.name)
		ch <- prometheus.MustNewConstMetric(descManagerConn, prometheus.GaugeValue, float64(st.Connections), e.name)
		ch <- prometheus.MustNewConstMetric(descManagerOps, prometheus.CounterValue, float64(st.Ops), e.name)
	}
	c.duration.Collect(ch)
	c.wait.Collect(ch)
}

// QueueStats reads a queue: its Stats if it is a Counter (counted true), else its Len and Cap.
// ok is false for a queue that was closed (whose methods panic). The dashboard reads its queues
// with it too.
func QueueStats(q Sizer) (st mp.QueueStats, counted, ok bool) {
	defer func() {
		if recover() != nil {
			st, counted, ok = mp.QueueStats{}, false, false
		}
	}()
	if c, is := q.(Counter); is {
		return c.Stats(), true, true
	}
	return mp.QueueStats{Len: q.Len(), Cap: q.Cap()}, false, true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func collectPool(ch chan<- prometheus.Metric, name string, s mp.PoolSnapshot) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{name}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{name}, labels...)...)
	}
	gauge(descPoolSize, float64(s.Size))
	states := map[string]int{}
	var rss, rssMax uint64
	var cpu time.Duration
	for _, w := range s.Workers {
		states[w.State]++
		rss += w.RSS
		rssMax = max(rssMax, w.RSS)
		cpu += w.CPU
	}
	for _, st := range workerStates {
		gauge(descPoolWorkers, float64(states[st]), st)
	}
	gauge(descPoolQueued, float64(s.Queued))
	gauge(descPoolRunning, float64(s.Running))
	gauge(descPoolPaused, b2f(s.Paused))
	gauge(descPoolClosed, b2f(s.Closed))
	counter(descSubmitted, s.Counts.Submitted)
	for i, n := range []uint64{s.Counts.Succeeded, s.Counts.Failed, s.Counts.Cancelled, s.Counts.TimedOut, s.Counts.WorkerDied} {
		counter(descCompleted, n, outcomes[i])
	}
	counter(descRetried, s.Counts.Retried)
	for _, r := range exitReasons {
		counter(descExits, s.ExitCounts[r], string(r))
	}
	gauge(descRSS, float64(rss))
	gauge(descRSSMax, float64(rssMax))
	gauge(descCPU, cpu.Seconds())
	gauge(descMaps, float64(len(s.Maps)))
	if cl := s.Cluster; cl != nil {
		lost := 0
		for _, a := range cl.Agents {
			if a.Lost {
				lost++
			}
		}
		gauge(descAgents, float64(len(cl.Agents)-lost), "false")
		gauge(descAgents, float64(lost), "true")
		counter(descRedelivered, cl.Redelivered)
		counter(descDuplicates, cl.Duplicates)
		gauge(descPendingAcks, float64(cl.PendingAcks))
	}
}
