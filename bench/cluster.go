//go:build unix

package bench

// The cluster workloads compare mp's NATS executor (package mpnats) with dask.distributed, the
// engine people pick for Python tasks across machines. Their dask side is python/dask_bench.py,
// run with an interpreter that has dask (see findDask); their mp side is an mpnats pool
// (cluster_mp.go): the in-process cluster (an embedded server on no port, an agent of 2 slots)
// for the first three, local agent processes (NewLocalPool) for the CPU-bound two. The counts
// below are the script's too (TestDaskScriptRows checks).

// clusterSubmitLatency is one task's round trip through the cluster.
var clusterSubmitLatency = &Workload{
	Name:         "cluster_submit_latency",
	What:         "one Submit then Wait of a tiny task on a warm 2-worker cluster, each round trip timed (dask: submit(inc, i).result())",
	Unit:         "µs",
	Kind:         Latency,
	Samples:      2000,
	QuickSamples: 100,
	MP:           clusterLatencyMP,
	Dask:         true,
	Targets:      []Target{{Max: 1000}},
}

// clusterTasks is the throughput of one-item tasks.
var clusterTasks = &Workload{
	Name:         "cluster_tasks",
	What:         "Items one-item tasks submitted to a warm 2-worker cluster, then every result waited for (dask: submit(inc, i) ×n, gather)",
	Unit:         "tasks/s",
	Kind:         Throughput,
	Samples:      3,
	QuickSamples: 2,
	Items:        5_000,
	QuickItems:   500,
	MP:           clusterTasksMP,
	Dask:         true,
	Targets:      []Target{{Dask: 10}},
}

// clusterMapChunked is a Map of tiny items with default chunking.
var clusterMapChunked = &Workload{
	Name:         "cluster_map_chunked",
	What:         "a Map squaring Items ints on a warm 2-worker cluster, in chunks of Items/(4×workers) (dask: client.map over such batches, each an array.array('q'), gather, flatten)",
	Unit:         "items/s",
	Kind:         Throughput,
	Samples:      3,
	QuickSamples: 2,
	Items:        1_000_000,
	QuickItems:   50_000,
	MP:           clusterMapMP,
	Dask:         true,
	Targets:      []Target{{Min: 200_000}},
}

// clusterCPU1 and clusterCPU2 are CPU-bound tasks on one and two workers: each task spins for
// 10 ms of its thread's CPU time, so that the work per task is the same in Go and in Python and
// the figures show how the engine scales (the issue asks mp for 2 agents ≥ 1.7× 1 agent).
var clusterCPU1 = &Workload{
	Name:         "cluster_cpu_1w",
	What:         "Items CPU-bound tasks (10 ms of CPU each) on a 1-worker cluster, all submitted, then waited for (mp: 1 local agent process of 1 slot)",
	Unit:         "tasks/s",
	Kind:         Throughput,
	Samples:      3,
	QuickSamples: 2,
	Items:        200,
	QuickItems:   20,
	MP:           clusterCPUMP(1),
	Dask:         true,
}

var clusterCPU2 = &Workload{
	Name:         "cluster_cpu_2w",
	What:         "the same on a 2-worker cluster (mp: 2 local agent processes of 1 slot; the figure with each agent in a network namespace of its own is mpnats' BenchmarkNetnsCPU)",
	Unit:         "tasks/s",
	Kind:         Throughput,
	Samples:      3,
	QuickSamples: 2,
	Items:        200,
	QuickItems:   20,
	MP:           clusterCPUMP(2),
	Dask:         true,
}
