#!/usr/bin/env python3
"""dask.distributed side of mp's cluster benchmarks.

Measures a dask.distributed LocalCluster (worker processes, one thread each,
on this machine) on the cluster workloads of mp's harness and prints one JSON
line per row on stdout, in the format of mp_bench.py:

    {"name": "cluster_tasks_dask", "unit": "tasks/s", "value": <median>, "params": {...}}

params holds the workload, the sample count and the median, p90, p99, min and
max of the samples, the worker count and the versions. Progress goes to
stderr. `go run ./bench/compare` runs this script with the interpreter that
has dask (Debian: apt-get install python3-distributed); it can also run alone:

    /usr/bin/python3 dask_bench.py [--quick] [--only NAME[,NAME...]] [--list]

A workload is a function taking (client, n, items, workers) that returns (samples,
extras), and a Workload(...) line in WORKLOADS, with items= and quick_items=
equal to the Go side's Items and QuickItems (bench/cluster.go).
"""

import math
import sys
import time

WARMUP = 100  # unmeasured tasks before the samples of each workload
CPU_TASK_S = 0.010  # CPU seconds each task of the CPU-bound workloads spins for
now_ns = time.perf_counter_ns


# ------------------------------------------------------------------ tasks
# At module level; dask pickles them by value from __main__ (cloudpickle).


def inc(x):
    return x + 1


def square_batch(xs):
    """Squares an array.array('q') of ints into another."""
    import array

    return array.array("q", [x * x for x in xs])


def spin(x):
    """Burns CPU_TASK_S of this thread's CPU time, then returns x: the same work on any
    machine load, and on the Go side."""
    end = time.thread_time() + CPU_TASK_S
    while time.thread_time() < end:
        pass
    return x


# -------------------------------------------------------------- workloads


def submit_latency(client, n, items, workers):
    """submit(inc, i).result(), each round trip timed, in µs."""
    samples = []
    for i in range(n):
        t = now_ns()
        r = client.submit(inc, i, pure=False).result()
        samples.append((now_ns() - t) / 1e3)
        assert r == i + 1
    return samples, {}


def tasks(client, n, items, workers):
    """items one-item tasks: submit(inc, i) for each, then gather; tasks/s. The Submit calls
    alone give submit_tasks_per_s."""
    samples, submit_rates = [], []
    for _ in range(n):
        t = now_ns()
        fs = [client.submit(inc, i, pure=False) for i in range(items)]
        ts = now_ns()
        rs = client.gather(fs)
        dt = (now_ns() - t) / 1e9
        assert rs[-1] == items
        samples.append(items / dt)
        submit_rates.append(items / ((ts - t) / 1e9))
        del fs
    return samples, {"submit_tasks_per_s": submit_rates}


def map_chunked(client, n, items, workers):
    """client.map(square_batch, batches) over range(items) split as mp.Map's default chunking
    does (about four batches a worker), then gather and flatten; items/s. Each batch is an
    array.array('q'): dask walks a list argument item by item looking for futures (a 125,000-int
    list costs it seconds), an array it pickles as one buffer, which is what a dask user who
    cares about speed sends (or a NumPy array)."""
    import array

    size = -(-items // (4 * workers))
    samples = []
    for _ in range(n):
        t = now_ns()
        batches = [array.array("q", range(i, min(i + size, items))) for i in range(0, items, size)]
        fs = client.map(square_batch, batches, pure=False)
        out = [y for part in client.gather(fs) for y in part]
        dt = (now_ns() - t) / 1e9
        assert len(out) == items and out[-1] == (items - 1) ** 2
        samples.append(items / dt)
        del fs
    return samples, {"batch_items": size}


def cpu(client, n, items, workers):
    """items CPU-bound tasks (spin: CPU_TASK_S of CPU each), all submitted, then gathered;
    tasks/s."""
    samples = []
    for _ in range(n):
        t = now_ns()
        fs = client.map(spin, range(items), pure=False)
        rs = client.gather(fs)
        dt = (now_ns() - t) / 1e9
        assert rs[-1] == items - 1
        samples.append(items / dt)
        del fs
    return samples, {}


# ------------------------------------------------------------------ harness


class Workload:
    def __init__(self, name, unit, fn, workers, n, quick_n, op, items=None, quick_items=None, params=None):
        self.name, self.unit, self.fn, self.workers = name, unit, fn, workers
        self.n, self.quick_n, self.op = n, quick_n, op
        self.items, self.quick_items = items, quick_items
        self.params = params or {}
        self.row = name + "_dask"


WORKLOADS = [
    Workload("cluster_submit_latency", "µs", submit_latency, 2, 2000, 100,
             "client.submit(inc, i, pure=False).result(), each round trip timed"),
    Workload("cluster_tasks", "tasks/s", tasks, 2, 3, 2,
             "client.submit(inc, i, pure=False) x items, then client.gather", items=5_000, quick_items=500),
    Workload("cluster_map_chunked", "items/s", map_chunked, 2, 3, 2,
             "client.map(square_batch, batches of items/(4*workers) ints as array.array('q')), then gather and flatten",
             items=1_000_000, quick_items=50_000),
    Workload("cluster_cpu_1w", "tasks/s", cpu, 1, 3, 2,
             "client.map(spin, range(items)) on 1 worker: each task spins 10 ms of CPU", items=200, quick_items=20,
             params={"task_cpu_ms": CPU_TASK_S * 1e3}),
    Workload("cluster_cpu_2w", "tasks/s", cpu, 2, 3, 2,
             "client.map(spin, range(items)) on 2 workers: each task spins 10 ms of CPU", items=200, quick_items=20,
             params={"task_cpu_ms": CPU_TASK_S * 1e3}),
]


def quantile(xs, q):
    """The q-quantile of xs by nearest rank, as the Go side's Summarize."""
    s = sorted(xs)
    if not s:
        return 0.0
    i = min(len(s), max(1, math.ceil(q * len(s))))
    return s[i - 1]


def summarize(xs):
    import statistics

    return {"n": len(xs), "median": statistics.median(xs) if xs else 0.0, "p90": quantile(xs, 0.9), "p99": quantile(xs, 0.99),
            "min": min(xs) if xs else 0.0, "max": max(xs) if xs else 0.0}


def rnd(v):
    return float("%.4g" % v)


def emit(w, samples, extras, items, versions):
    import json

    s = summarize(samples)
    params = {"workload": w.name, "variant": "dask", "op": w.op, "workers": w.workers,
              "threads_per_worker": 1, "impl": "dask.distributed %s LocalCluster" % versions["distributed"]}
    params.update(versions)
    params.update({k: (v if k == "n" else rnd(v)) for k, v in s.items()})
    for k, vs in extras.items():
        if not isinstance(vs, list):
            params[k] = vs  # a parameter, not samples
            continue
        params[k] = {kk: (vv if kk == "n" else rnd(vv)) for kk, vv in summarize(vs).items()}
    if items is not None:
        params["items"] = items
    params["warmup_tasks"] = WARMUP
    params.update(w.params)
    print(json.dumps({"name": w.row, "unit": w.unit, "value": rnd(s["median"]), "params": params}), flush=True)


def start_cluster(workers):
    import logging

    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    client.wait_for_workers(workers)
    client.gather(client.map(inc, range(WARMUP), pure=False))  # warm: connections, pickling
    return cluster, client


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="take few samples (a smoke run)")
    ap.add_argument("--only", default="", help="comma-separated workload or row names")
    ap.add_argument("--list", action="store_true", help="list the rows and exit")
    args = ap.parse_args()

    if args.list:
        for w in WORKLOADS:
            print(w.row, w.unit)
        return
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    known = {w.name for w in WORKLOADS} | {w.row for w in WORKLOADS}
    if only - known:
        ap.error("unknown workload %s (known: %s)" % (", ".join(sorted(only - known)), ", ".join(sorted(known))))
    try:
        import dask
        import distributed
    except ImportError as e:
        print("dask_bench.py: %s: this interpreter (%s) has no dask.distributed; "
              "on Debian: apt-get install python3-distributed" % (e, sys.executable), file=sys.stderr)
        sys.exit(3)
    versions = {"python": ".".join(map(str, sys.version_info[:3])), "dask": dask.__version__,
                "distributed": distributed.__version__}
    for w in WORKLOADS:
        if only and w.name not in only and w.row not in only:
            continue
        n = w.quick_n if args.quick else w.n
        items = w.quick_items if args.quick else w.items
        t0 = time.monotonic()
        cluster, client = start_cluster(w.workers)
        try:
            samples, extras = w.fn(client, n, items, w.workers)
        finally:
            client.close()
            cluster.close()
        emit(w, samples, extras, items, versions)
        print("# dask %s: %d samples in %.1fs" % (w.row, n, time.monotonic() - t0), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
