#!/usr/bin/env python3
"""Python side of mp's benchmark harness (standard library only).

Measures CPython's multiprocessing on the workloads of mp's harness, once per
start method, and prints one JSON line per row on stdout:

    {"name": "spawn_join_spawn", "unit": "ms", "value": <median>, "params": {...}}

params holds the workload, the start method, the sample count and the median,
p90, min and max of the samples, plus extra figures (e.g. PSS). Progress goes
to stderr. `go run ./bench/compare` runs this script; it can also run alone:

    python3 mp_bench.py [--quick] [--only NAME[,NAME...]] [--list]

--only takes workload names (spawn_join) or row names (spawn_join_fork).
To add a workload: write a function taking (ctx, n) that returns
(samples, extras), and add a Workload(...) line to WORKLOADS below. A
workload whose sample is a batch of tasks (a map, a burst of submits) takes
(ctx, n, items) and has items= and quick_items= in its Workload(...) line,
the same counts as the Go side's Items and QuickItems.
"""

# The spawn start method imports this module again in every child: keep the
# top-level imports to what the workloads need, so that we time
# multiprocessing rather than this script.
import multiprocessing
import os
import sys
import time

WARMUP = 3  # unmeasured operations before the samples of a timed workload
IDLE_SETTLE = 0.1  # seconds an idle child is left alone before its memory is read
POOL_SETTLE = 0.2  # seconds an idle pool is left alone before its workers' memory is read
POOL_WORKERS = 2  # the size of the pools of the throughput workloads, as on the Go side
APPLY_WARMUP = 200  # unmeasured apply() calls before apply_latency's samples
LISTEN_KEY = b"listen_pingpong's auth key, 32 b"  # listen_pingpong's, as the Go side's
PINGPONG_WARMUP = 200  # unmeasured round trips before pipe_pingpong's samples
QUEUE_PAYLOAD = 1024  # bytes of each item of queue_throughput_1k
BANDWIDTH_MSG = 64 << 20  # bytes of each message of pipe_bandwidth
BANDWIDTH_WARMUP = 2  # unmeasured messages before pipe_bandwidth's samples
LOCK_WARMUP = 1000  # unmeasured acquire+release pairs before lock_uncontended's samples
CONTENTION_SETTLE = 0.01  # seconds lock_contention's ready children get to reach go.wait()
EVENT_WARMUP = 200  # unmeasured round trips before event_latency's samples
MANAGER_WARMUP = 200  # unmeasured sets and gets before manager_dict_ops's samples
SHM_SIZE = 256 << 20  # bytes of shm_read's segment
SHM_CHUNK = 1 << 20  # bytes of each write filling it
now_ns = time.perf_counter_ns


# ------------------------------------------------------------------ children
# At module level, so that every start method finds them.


def empty():
    pass


def square(x):
    return x * x


def square_to(conn, x):
    conn.send(x * x)
    conn.close()


def idle(conn):
    conn.send("ready")
    conn.close()
    time.sleep(3600)


def queue_producer(q, n, payload, ready, go):
    """Puts n items on q once go is set: the ints 0..n-1, or payload n times."""
    ready.set()
    go.wait()
    put = q.put
    if payload is None:
        for i in range(n):
            put(i)
    else:
        for _ in range(n):
            put(payload)
    # Queue's feeder thread is joined at process exit, after every item is written.


def queue_consumer(q, n, ready, go, done):
    """Gets n items from q, then sends its perf_counter reading and the count through done."""
    ready.set()
    go.wait()
    get = q.get
    got = 0
    for _ in range(n):
        get()
        got += 1
    done.send((time.perf_counter(), got))
    done.close()


def echo(conn, n):
    """Answers each of n messages on conn with the same message."""
    recv, send = conn.recv, conn.send
    for _ in range(n):
        send(recv())
    conn.close()


def bytes_sink(conn, n):
    """Receives n messages with recv_bytes, answering each with its length."""
    for _ in range(n):
        conn.send(len(conn.recv_bytes()))
    conn.close()


def listen_echo(address, authkey, n):
    """Dials the Listener at address with authkey and answers each of n byte messages with the
    same bytes."""
    from multiprocessing.connection import Client
    with Client(address, authkey=authkey) as c:
        recv, send = c.recv_bytes, c.send_bytes
        for _ in range(n):
            send(recv())


def lock_increment(v, n, ready, go, done):
    """Adds 1 to v.value n times under v's own lock, once go is set; then sends its
    perf_counter reading through done."""
    ready.set()
    go.wait()
    lock = v.get_lock()
    for _ in range(n):
        with lock:
            v.value += 1
    done.send(time.perf_counter())
    done.close()


def event_echo(go, back, n):
    """n times: waits for go, clears it, sets back."""
    for _ in range(n):
        go.wait()
        go.clear()
        back.set()


def shm_sum(name, size, done):
    """Attaches the shared memory segment name and sums it as 8-byte unsigned ints (stdlib only:
    memoryview.cast('Q') and sum()); sends the time from attaching to the sum and the sum."""
    from multiprocessing import shared_memory

    t0 = time.perf_counter()
    shm = shared_memory.SharedMemory(name=name)
    mv = shm.buf.cast("Q")
    s = sum(mv)
    mv.release()
    t1 = time.perf_counter()
    shm.close()
    done.send((t1 - t0, s))
    done.close()


# ----------------------------------------------------------------- workloads
# Each takes a multiprocessing context and a sample count, and returns
# (samples, extras): samples in the workload's unit, extras a dict of lists.


def spawn_join(ctx, n):
    """Process(target=empty).start() + join()."""
    samples = []
    for i in range(-WARMUP, n):
        t0 = now_ns()
        p = ctx.Process(target=empty)
        p.start()
        p.join()
        dt = now_ns() - t0
        if p.exitcode != 0:
            raise RuntimeError("empty child exited with %s" % p.exitcode)
        if i >= 0:
            samples.append(dt / 1e6)
    return samples, {}


def run_roundtrip(ctx, n):
    """A fresh Process computes 7*7 and sends it back through a Pipe."""
    samples = []
    for i in range(-WARMUP, n):
        t0 = now_ns()
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=square_to, args=(w, 7))
        p.start()
        w.close()
        v = r.recv()
        p.join()
        r.close()
        dt = now_ns() - t0
        if v != 49:
            raise RuntimeError("square_to(7) sent %r" % (v,))
        if i >= 0:
            samples.append(dt / 1e6)
    return samples, {}


def idle_rss(ctx, n):
    """Memory of n started children idling in time.sleep, read after they said ready."""
    procs = []
    try:
        for _ in range(n):
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=idle, args=(w,))
            p.start()
            w.close()
            if r.recv() != "ready":
                raise RuntimeError("idle child did not get ready")
            r.close()
            procs.append(p)
        time.sleep(IDLE_SETTLE)
        samples, extras = [], {"pss_mib": [], "uss_mib": []}
        for p in procs:
            m = read_mem(p.pid)
            samples.append(m["rss"] / 1024)
            if "pss" in m:
                extras["pss_mib"].append(m["pss"] / 1024)
                extras["uss_mib"].append(m["uss"] / 1024)
        return samples, {k: v for k, v in extras.items() if v}
    finally:
        for p in procs:
            p.kill()
            p.join()


def _pool_map(ctx, n, items, chunksize):
    """n timed Pool(2).map(square, range(items)) calls, in tasks/s, after a warm-up map of a
    tenth of the items. The pool's start is not timed."""
    kw = {} if chunksize is None else {"chunksize": chunksize}
    samples = []
    with ctx.Pool(POOL_WORKERS) as pool:
        pool.map(square, range(max(1, items // 10)), **kw)
        for _ in range(n):
            t0 = now_ns()
            r = pool.map(square, range(items), **kw)
            dt = now_ns() - t0
            if len(r) != items or r[-1] != (items - 1) ** 2:
                raise RuntimeError("map(square) returned wrong results")
            samples.append(items / (dt / 1e9))
    return samples, {}


def pool_map_tiny(ctx, n, items):
    """Pool(2).map(square, range(items)), default chunksize."""
    return _pool_map(ctx, n, items, None)


def pool_map_chunk1(ctx, n, items):
    """Pool(2).map(square, range(items), chunksize=1)."""
    return _pool_map(ctx, n, items, 1)


def goroutine_pool_map_chunk1(ctx, n, items):
    """ThreadPool(2).map(square, range(items), chunksize=1): the in-process executor's cost per
    task (ctx is not used: threads need no start method)."""
    from multiprocessing.pool import ThreadPool

    samples = []
    with ThreadPool(POOL_WORKERS) as pool:
        pool.map(square, range(max(1, items // 10)), chunksize=1)
        for _ in range(n):
            t0 = now_ns()
            r = pool.map(square, range(items), chunksize=1)
            dt = now_ns() - t0
            if len(r) != items or r[-1] != (items - 1) ** 2:
                raise RuntimeError("map(square) returned wrong results")
            samples.append(items / (dt / 1e9))
    return samples, {}


def apply_latency(ctx, n):
    """Pool(1).apply(empty), each call timed, in microseconds, after warm-up calls."""
    samples = []
    with ctx.Pool(1) as pool:
        apply = pool.apply
        for i in range(-APPLY_WARMUP, n):
            t0 = now_ns()
            apply(empty)
            dt = now_ns() - t0
            if i >= 0:
                samples.append(dt / 1e3)
    return samples, {}


def executor_submit(ctx, n, items):
    """ProcessPoolExecutor(2): submit(empty) items times, then result() of each, in tasks/s;
    after a warm-up burst of a tenth of the items. The executor's start is not timed."""
    from concurrent.futures import ProcessPoolExecutor

    samples, submit_rates = [], []
    with ProcessPoolExecutor(POOL_WORKERS, mp_context=ctx) as ex:
        for f in [ex.submit(empty) for _ in range(max(1, items // 10))]:
            f.result()
        for _ in range(n):
            t0 = now_ns()
            fs = [ex.submit(empty) for _ in range(items)]
            t1 = now_ns()
            for f in fs:
                f.result()
            dt = now_ns() - t0
            samples.append(items / (dt / 1e9))
            submit_rates.append(items / ((t1 - t0) / 1e9))
    return samples, {"submit_tasks_per_s": submit_rates}


def _queue_throughput(ctx, n, items, payload):
    """n runs of a producer process putting items items on a Queue() and a consumer process
    getting them. Both start (not timed) and wait on an Event; a run is timed from setting it to
    the consumer's perf_counter reading after its last get(), as the Go side times from its go
    message to the consumer's done message. Returns the items per second of each run."""
    rates = []
    for _ in range(n):
        q = ctx.Queue()
        go = ctx.Event()
        ready = [ctx.Event(), ctx.Event()]
        r, w = ctx.Pipe(duplex=False)
        cons = ctx.Process(target=queue_consumer, args=(q, items, ready[0], go, w))
        prod = ctx.Process(target=queue_producer, args=(q, items, payload, ready[1], go))
        cons.start()
        prod.start()
        w.close()
        for e in ready:
            if not e.wait(60):
                raise RuntimeError("queue child did not get ready")
        time.sleep(0.01)  # let both reach go.wait()
        t0 = time.perf_counter()
        go.set()
        t_end, got = r.recv()
        prod.join()
        cons.join()
        r.close()
        q.close()
        if got != items or prod.exitcode != 0 or cons.exitcode != 0:
            raise RuntimeError("queue run: got %d of %d items, exit codes %s %s" % (got, items, prod.exitcode, cons.exitcode))
        rates.append(items / (t_end - t0))
    return rates


def queue_throughput(ctx, n, items):
    """Queue(): a producer process puts the ints 0..items-1, a consumer process gets them;
    msgs/s."""
    return _queue_throughput(ctx, n, items, None), {}


def queue_throughput_1k(ctx, n, items):
    """The same with 1 KiB bytes items; MB/s (1e6 bytes), items/s as an extra."""
    rates = _queue_throughput(ctx, n, items, b"x" * QUEUE_PAYLOAD)
    return [r * QUEUE_PAYLOAD / 1e6 for r in rates], {"msgs_per_s": rates}


def _manager_dict_child(d, n, conn):
    val = "v" * 16
    keys = ["k%d" % i for i in range(n)]
    for i in range(MANAGER_WARMUP):
        d["warm"] = val
        d.get(keys[i % n])
    out = []
    for k in keys:
        t0 = now_ns()
        d[k] = val
        out.append(now_ns() - t0)
    for k in keys:
        t0 = now_ns()
        v = d[k]
        out.append(now_ns() - t0)
        if v != val:
            raise RuntimeError("d[%r] = %r" % (k, v))
    conn.send(out)
    conn.close()


def manager_dict_ops(ctx, n):
    """Manager().dict(): a child sets n/2 16-character strings, then gets them; each op timed,
    in microseconds, after MANAGER_WARMUP unmeasured sets and gets."""
    with ctx.Manager() as m:
        d = m.dict()
        r, w = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_manager_dict_child, args=(d, n // 2, w))
        child.start()
        w.close()
        ops = r.recv()
        child.join()
    half = len(ops) // 2
    return [x / 1e3 for x in ops], {"set_us": [x / 1e3 for x in ops[:half]],
                                     "get_us": [x / 1e3 for x in ops[half:]]}


def _manager_update_child(d, lock, n, conn):
    for _ in range(MANAGER_WARMUP):
        with lock:
            d["n"] = d["n"] + 1
    out = []
    for _ in range(n):
        t0 = now_ns()
        with lock:
            d["n"] = d["n"] + 1
        out.append(now_ns() - t0)
    conn.send(out)
    conn.close()


def manager_update(ctx, n):
    """An atomic d["n"] += 1 on a Manager().dict() from a child: Python has no update function
    run by the manager, so with m.Lock(): d["n"] = d["n"] + 1 (four round trips); each timed."""
    with ctx.Manager() as m:
        d = m.dict()
        d["n"] = 0
        lock = m.Lock()
        r, w = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_manager_update_child, args=(d, lock, n, w))
        child.start()
        w.close()
        ops = r.recv()
        child.join()
        if d["n"] != n + MANAGER_WARMUP:
            raise RuntimeError("manager_update: d['n'] = %r" % d["n"])
    return [x / 1e3 for x in ops], {}


SEED001_PROCS = 50


def _seed001_worker(d, lock):
    with lock:
        d["count"] -= 1


def manager_seed001(ctx, n):
    """Seed 001's program whole: Manager(), d["count"] = 50, 50 processes each take one off
    under m.Lock(), join, read the dict back (0), shut the manager down; ms each."""
    out = []
    for _ in range(n):
        t0 = now_ns()
        with ctx.Manager() as m:
            d = m.dict()
            d["count"] = SEED001_PROCS
            lock = m.Lock()
            ps = [ctx.Process(target=_seed001_worker, args=(d, lock)) for _ in range(SEED001_PROCS)]
            for p in ps:
                p.start()
            for p in ps:
                p.join()
            if dict(d.items())["count"] != 0:
                raise RuntimeError("manager_seed001: count %r" % d["count"])
        out.append((now_ns() - t0) / 1e6)
    return out, {}


BATCH_KEYS = 100  # keys of one manager_batch100 batch


def _manager_batch_child(d, n, warmup, conn):
    val = "v" * 16
    keys = ["k%d" % i for i in range(BATCH_KEYS)]
    kv = {k: val for k in keys}
    sets, gets = [], []
    for i in range(-warmup, n):
        t0 = now_ns()
        d.update(kv)
        if i >= 0:
            sets.append(now_ns() - t0)
    for i in range(-warmup, n):
        t0 = now_ns()
        got = [d[k] for k in keys]
        if i >= 0:
            gets.append(now_ns() - t0)
        if got[7] != val:
            raise RuntimeError("manager_batch100: d['k7'] = %r" % got[7])
    conn.send(sets + gets)
    conn.close()


def manager_batch100(ctx, n):
    """Manager().dict(): a child does d.update(kv) of 100 keys n times, then 100 d[k] (Python
    has no batched get) n times; each batch timed, in microseconds, after MANAGER_WARMUP/10;
    sample i is update i + gets i, as mp's SetMany i + GetMany i."""
    with ctx.Manager() as m:
        d = m.dict()
        r, w = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_manager_batch_child, args=(d, n, MANAGER_WARMUP // 10, w))
        child.start()
        w.close()
        ops = r.recv()
        child.join()
    sets, gets = ops[:n], ops[n:]
    return [(a + b) / 1e3 for a, b in zip(sets, gets)], {"setmany_us": [x / 1e3 for x in sets],
                                                          "getmany_us": [x / 1e3 for x in gets]}


def _manager_sync_child(obj, op, n, conn):
    def once():
        if op == "mutex":
            obj.acquire()
            obj.release()
        else:
            obj.put("v" * 16)
            obj.get()
    for _ in range(MANAGER_WARMUP):
        once()
    out = []
    for _ in range(n):
        t0 = now_ns()
        once()
        out.append(now_ns() - t0)
    conn.send(out)
    conn.close()


def _manager_sync(ctx, n, op):
    with ctx.Manager() as m:
        obj = m.Lock() if op == "mutex" else m.Queue()
        r, w = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_manager_sync_child, args=(obj, op, n, w))
        child.start()
        w.close()
        ops = r.recv()
        child.join()
    return [x / 1e3 for x in ops], {}


def manager_mutex(ctx, n):
    """Manager().Lock(): a child acquire()s and release()s it; each pair timed, in µs."""
    return _manager_sync(ctx, n, "mutex")


def manager_queue(ctx, n):
    """Manager().Queue(): a child put()s a 16-character string and get()s it; each pair timed."""
    return _manager_sync(ctx, n, "queue")


def manager_event(ctx, n):
    """event_latency with Manager().Event()s: the parent sets go and waits for back, a child
    waits for go, clears it and sets back, the parent clears back; half of each round trip."""
    with ctx.Manager() as m:
        go, back = m.Event(), m.Event()
        child = ctx.Process(target=event_echo, args=(go, back, MANAGER_WARMUP + n))
        child.start()
        samples, rts = [], []
        try:
            for i in range(-MANAGER_WARMUP, n):
                t0 = now_ns()
                go.set()
                back.wait()
                dt = now_ns() - t0
                back.clear()
                if i >= 0:
                    samples.append(dt / 2e3)
                    rts.append(dt / 1e3)
        finally:
            child.join()
    return samples, {"round_trip_us": rts}


def pipe_pingpong(ctx, n):
    """Pipe() (duplex, a socketpair): the parent sends the int 1, a child echoes it; each round
    trip timed, in microseconds, after warm-up round trips."""
    a, b = ctx.Pipe()
    child = ctx.Process(target=echo, args=(b, PINGPONG_WARMUP + n))
    child.start()
    b.close()
    send, recv = a.send, a.recv
    samples = []
    try:
        for i in range(-PINGPONG_WARMUP, n):
            t0 = now_ns()
            send(1)
            v = recv()
            dt = now_ns() - t0
            if v != 1:
                raise RuntimeError("echo sent back %r" % (v,))
            if i >= 0:
                samples.append(dt / 1e3)
    finally:
        child.join()
        a.close()
    return samples, {}


def listen_pingpong(ctx, n):
    """multiprocessing.connection.Listener(('127.0.0.1', 0), authkey=k) and a child's
    Client(address, authkey=k): send_bytes(8 bytes) echoed back, recv_bytes(); each round trip
    timed, in microseconds, after warm-up round trips."""
    from multiprocessing.connection import Listener
    with Listener(('127.0.0.1', 0), authkey=LISTEN_KEY) as listener:
        child = ctx.Process(target=listen_echo, args=(listener.address, LISTEN_KEY, PINGPONG_WARMUP + n))
        child.start()
        try:
            with listener.accept() as c:
                send, recv = c.send_bytes, c.recv_bytes
                msg = b"pingpong"
                samples = []
                for i in range(-PINGPONG_WARMUP, n):
                    t0 = now_ns()
                    send(msg)
                    v = recv()
                    dt = now_ns() - t0
                    if v != msg:
                        raise RuntimeError("listen_echo sent back %r" % (v,))
                    if i >= 0:
                        samples.append(dt / 1e3)
        finally:
            child.join()
    return samples, {}


def pipe_bandwidth(ctx, n):
    """Pipe() (duplex, a socketpair): the parent sends a 64 MiB bytes object with send_bytes,
    a child takes it with recv_bytes and answers with its length; each message timed, in GB/s
    (1e9 bytes), after BANDWIDTH_WARMUP unmeasured messages."""
    data = b"\xab" * BANDWIDTH_MSG
    a, b = ctx.Pipe()
    child = ctx.Process(target=bytes_sink, args=(b, BANDWIDTH_WARMUP + n))
    child.start()
    b.close()
    samples = []
    try:
        for i in range(-BANDWIDTH_WARMUP, n):
            t0 = now_ns()
            a.send_bytes(data)
            got = a.recv()
            dt = now_ns() - t0
            if got != BANDWIDTH_MSG:
                raise RuntimeError("bytes_sink received %r bytes" % (got,))
            if i >= 0:
                samples.append(BANDWIDTH_MSG / dt)  # bytes per ns = GB/s
    finally:
        child.join()
        a.close()
    return samples, {}


def lock_uncontended(ctx, n, items):
    """Lock(): acquire() + release() items times in this process per sample, in ns per pair,
    after LOCK_WARMUP unmeasured pairs; the cost of the bare loop as an extra."""
    lock = ctx.Lock()
    acq, rel = lock.acquire, lock.release
    for _ in range(LOCK_WARMUP):
        acq()
        rel()
    samples, loops = [], []
    for _ in range(n):
        t0 = now_ns()
        for _ in range(items):
            acq()
            rel()
        dt = now_ns() - t0
        t1 = now_ns()
        for _ in range(items):
            pass
        loop = now_ns() - t1
        samples.append(dt / items)
        loops.append(loop / items)
    return samples, {"empty_loop_ns": loops}


def lock_contention(ctx, n, items):
    """Two processes each add 1 items times to a Value('i') under its get_lock(), as a run; a
    run is timed from setting the Event both wait on to the later of their perf_counter
    readings after their last increment, and must end with 2*items. In ops/s (both
    processes' increments)."""
    samples = []
    for _ in range(n):
        v = ctx.Value("i", 0)
        go = ctx.Event()
        ready = [ctx.Event(), ctx.Event()]
        pipes = [ctx.Pipe(duplex=False) for _ in range(2)]
        procs = [ctx.Process(target=lock_increment, args=(v, items, ready[k], go, pipes[k][1])) for k in range(2)]
        for p in procs:
            p.start()
        for _, w in pipes:
            w.close()
        for e in ready:
            if not e.wait(60):
                raise RuntimeError("lock child did not get ready")
        time.sleep(CONTENTION_SETTLE)  # let both reach go.wait()
        t0 = time.perf_counter()
        go.set()
        t_end = max(r.recv() for r, _ in pipes)
        for p in procs:
            p.join()
        for r, _ in pipes:
            r.close()
        if v.value != 2 * items or any(p.exitcode != 0 for p in procs):
            raise RuntimeError("lock_contention: the count is %d, want %d; exit codes %s"
                               % (v.value, 2 * items, [p.exitcode for p in procs]))
        samples.append(2 * items / (t_end - t0))
    return samples, {}


def event_latency(ctx, n):
    """Two Event()s between the parent and a child: the parent sets go and waits for back,
    the child waits for go, clears it and sets back; the parent clears back. Each round trip
    timed, after EVENT_WARMUP unmeasured; a sample is half a round trip (from a set() in one
    process to the wait() in the other returning), in microseconds."""
    go, back = ctx.Event(), ctx.Event()
    child = ctx.Process(target=event_echo, args=(go, back, EVENT_WARMUP + n))
    child.start()
    samples, rts = [], []
    try:
        for i in range(-EVENT_WARMUP, n):
            t0 = now_ns()
            go.set()
            back.wait()
            dt = now_ns() - t0
            back.clear()
            if i >= 0:
                samples.append(dt / 2e3)
                rts.append(dt / 1e3)
    finally:
        child.join()
    return samples, {"round_trip_us": rts}


def shm_read(ctx, n):
    """shared_memory.SharedMemory(create=True, size=SHM_SIZE), filled with 0x01 bytes; then n
    children, one after the other, each attach it by name and sum it; each child's time from
    attaching to the end of the sum, in GB/s (1e9 bytes). The children's starts are not
    timed."""
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(create=True, size=SHM_SIZE)
    samples = []
    try:
        chunk = b"\x01" * SHM_CHUNK
        buf = shm.buf
        for off in range(0, SHM_SIZE, SHM_CHUNK):
            buf[off:off + SHM_CHUNK] = chunk
        del buf
        want = (SHM_SIZE // 8) * 0x0101010101010101
        for _ in range(n):
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=shm_sum, args=(shm.name, SHM_SIZE, w))
            p.start()
            w.close()
            dt, s = r.recv()
            p.join()
            r.close()
            if s != want or p.exitcode != 0:
                raise RuntimeError("shm_sum: sum %d, want %d; exit code %s" % (s, want, p.exitcode))
            samples.append(SHM_SIZE / dt / 1e9)
    finally:
        shm.close()
        shm.unlink()
    return samples, {}


def worker_rss(ctx, n):
    """Memory of the workers of idle Pool(2)s, one pool after the other (n rounded up to whole
    pools): each maps square over range(100), idles POOL_SETTLE seconds, then its workers'
    memory is read."""
    samples, extras = [], {"pss_mib": [], "uss_mib": []}
    while len(samples) < n:
        pool = ctx.Pool(POOL_WORKERS)
        try:
            pool.map(square, range(100))
            time.sleep(POOL_SETTLE)
            for p in pool._pool:
                m = read_mem(p.pid)
                samples.append(m["rss"] / 1024)
                if "pss" in m:
                    extras["pss_mib"].append(m["pss"] / 1024)
                    extras["uss_mib"].append(m["uss"] / 1024)
        finally:
            pool.terminate()
            pool.join()
    return samples, {k: v for k, v in extras.items() if v}


KNUC_TASKS = 7  # tasks of knucleotide, each given the whole sequence
KNUC_SIZE = 64 << 20  # bytes of knucleotide's sequence
MEM_POLL = 0.005  # seconds between two readings of the memory sampler


def knuc_sequence(size=KNUC_SIZE):
    """size bytes of A, C, G and T (random; the Go side's generator differs, not the mix)."""
    table = bytes(b"ACGT"[i % 4] for i in range(256))
    return os.urandom(size).translate(table)


def kcount(seq):
    """Counts the 1-mers and 2-mers of seq with bytes.count (C speed; non-overlapping for the
    pairs of one letter)."""
    ones = [seq.count(c) for c in (b"A", b"C", b"G", b"T")]
    pairs = [seq.count(a + b) for a in (b"A", b"C", b"G", b"T") for b in (b"A", b"C", b"G", b"T")]
    return ones + pairs


_KNUC_RUNS = {}  # n -> (times, rss, pss): knucleotide and knucleotide_rss share their runs


def _knucleotide(ctx, n, items):
    """n timed runs of Pool(2).apply_async(kcount, (seq,)) x KNUC_TASKS, then get() on each,
    after a warm pool's map; each with the peak of the summed Rss (and Pss) of the parent and
    the workers, sampled every MEM_POLL seconds by a thread. A run takes about 50 s (bytes.count
    of a pair of letters goes at about 100 MB/s), so there is no warm-up run, and the runs of
    knucleotide are those of knucleotide_rss too."""
    if (n, items) in _KNUC_RUNS:
        return _KNUC_RUNS[(n, items)]
    import threading

    seq = knuc_sequence(items)
    want = kcount(seq)
    times, rss, pss = [], [], []
    pool = ctx.Pool(POOL_WORKERS)
    try:
        pool.map(square, range(10))
        for i in range(n):
            pids = [os.getpid()] + [p.pid for p in pool._pool]
            peak = {"rss": 0, "pss": 0}
            stop = threading.Event()

            def sample():
                while True:
                    ms = [read_mem(pid) for pid in pids]
                    peak["rss"] = max(peak["rss"], sum(m.get("rss", 0) for m in ms))
                    peak["pss"] = max(peak["pss"], sum(m.get("pss", 0) for m in ms))
                    if stop.wait(MEM_POLL):
                        return

            t = threading.Thread(target=sample)
            t.start()
            t0 = now_ns()
            futs = [pool.apply_async(kcount, (seq,)) for _ in range(KNUC_TASKS)]
            got = [f.get() for f in futs]
            dt = now_ns() - t0
            stop.set()
            t.join()
            if any(g != want for g in got):
                raise RuntimeError("kcount disagrees")
            if i >= 0:
                times.append(dt / 1e6)
                rss.append(peak["rss"] / 1024)
                pss.append(peak["pss"] / 1024)
    finally:
        pool.terminate()
        pool.join()
    _KNUC_RUNS[(n, items)] = (times, rss, pss)
    return times, rss, pss


def knucleotide(ctx, n, items):
    """The k-nucleotide shape: ms per run of 7 apply_async on the same sequence of items bytes
    (64 MiB; 1 MiB in a --quick run)."""
    times, rss, pss = _knucleotide(ctx, n, items)
    return times, {"peak_rss_mib": rss, "peak_pss_mib": pss}


def knucleotide_rss(ctx, n, items):
    """Peak memory (Pss summed over the parent and the workers) of knucleotide, in MiB, as the Go
    side measures it; the summed Rss beside it."""
    times, rss, pss = _knucleotide(ctx, n, items)
    return pss, {"rss_mib": rss, "ms": times}


def read_mem(pid):
    """Rss, Pss and Private_* (USS) in KiB from /proc/PID/smaps_rollup, as the Go side reads
    them; VmRSS from /proc/PID/status where there is no smaps_rollup."""
    out = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            uss = 0
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    key, kib = parts[0].rstrip(":"), int(parts[1])
                    if key == "Rss":
                        out["rss"] = kib
                    elif key == "Pss":
                        out["pss"] = kib
                    elif key in ("Private_Clean", "Private_Dirty"):
                        uss += kib
            out["uss"] = uss
    except OSError:
        pass
    if "rss" not in out:
        out = {}
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss"] = int(line.split()[1])
    return out


class Workload:
    def __init__(self, name, unit, fn, method, n, quick_n, op, items=None, quick_items=None, params=None):
        self.name, self.unit, self.fn, self.method = name, unit, fn, method
        self.n, self.quick_n, self.op = n, quick_n, op
        self.items, self.quick_items = items, quick_items
        self.params = params or {}

    @property
    def row(self):
        return self.name + "_" + self.method


# Row order is table order. n / quick_n: samples in a full / --quick run
# (spawn costs ~60 ms a process, fork ~2 ms); items / quick_items: tasks per
# sample. The pool workloads run with fork, Python 3.11-3.13's default on
# Linux: the start method only changes how the pool starts, which is not timed
# (worker_rss, where it matters, has both). Python's pools are slow enough that
# their sample counts are lower than the Go side's: about 2 s a sample for
# pool_map_chunk1 and 12 s for executor_submit. The queue and pipe workloads
# also use fork: their processes start before the timing, and their figures are
# those of the Queue or Connection, whatever the start method. So do the lock,
# event and shared memory workloads, for the same reason.
WORKLOADS = [
    Workload("spawn_join", "ms", spawn_join, "spawn", 50, 5, "Process(target=empty).start()+join()"),
    Workload("spawn_join", "ms", spawn_join, "fork", 200, 20, "Process(target=empty).start()+join()"),
    Workload("run_roundtrip", "ms", run_roundtrip, "spawn", 50, 5,
             "Process sends 7*7 through Pipe(duplex=False); recv(); join()"),
    Workload("run_roundtrip", "ms", run_roundtrip, "fork", 200, 20,
             "Process sends 7*7 through Pipe(duplex=False); recv(); join()"),
    Workload("idle_rss", "MiB", idle_rss, "spawn", 10, 2, "child idling in time.sleep, Rss of smaps_rollup"),
    Workload("idle_rss", "MiB", idle_rss, "fork", 10, 2, "child idling in time.sleep, Rss of smaps_rollup"),
    Workload("pool_map_tiny", "tasks/s", pool_map_tiny, "fork", 7, 2,
             "Pool(2).map(square, range(items))", items=1_000_000, quick_items=50_000),
    Workload("pool_map_chunk1", "tasks/s", pool_map_chunk1, "fork", 5, 2,
             "Pool(2).map(square, range(items), chunksize=1)", items=100_000, quick_items=2_000),
    Workload("goroutine_pool_map_chunk1", "tasks/s", goroutine_pool_map_chunk1, "fork", 5, 2,
             "ThreadPool(2).map(square, range(items), chunksize=1)", items=100_000, quick_items=2_000),
    Workload("apply_latency", "µs", apply_latency, "fork", 5000, 200, "Pool(1).apply(empty), each call timed"),
    Workload("executor_submit", "tasks/s", executor_submit, "fork", 3, 2,
             "ProcessPoolExecutor(2).submit(empty) x items, then result() of each", items=100_000, quick_items=2_000),
    Workload("worker_rss", "MiB", worker_rss, "fork", 10, 2,
             "workers of an idle Pool(2) after map(square, range(100)), Rss of smaps_rollup"),
    Workload("worker_rss", "MiB", worker_rss, "spawn", 10, 2,
             "workers of an idle Pool(2) after map(square, range(100)), Rss of smaps_rollup"),
    Workload("queue_throughput", "msgs/s", queue_throughput, "fork", 3, 2,
             "Queue(): a producer process puts 0..items-1, a consumer process gets them",
             items=1_000_000, quick_items=20_000, params={"payload": "small int"}),
    Workload("queue_throughput_1k", "MB/s", queue_throughput_1k, "fork", 5, 2,
             "Queue(): a producer process puts a 1 KiB bytes object per item, a consumer process gets them",
             items=100_000, quick_items=5_000, params={"payload_bytes": QUEUE_PAYLOAD, "MB": "1e6 bytes"}),
    Workload("pipe_pingpong", "µs", pipe_pingpong, "fork", 5000, 200,
             "Pipe() (socketpair): send(1) to a child that echoes it, recv(); each round trip timed",
             params={"warmup": PINGPONG_WARMUP, "pipe": "duplex (AF_UNIX socketpair)"}),
    Workload("listen_pingpong", "µs", listen_pingpong, "fork", 5000, 200,
             "connection.Listener(('127.0.0.1', 0), authkey) + a child's Client(authkey): send_bytes(8 bytes) echoed, recv_bytes(); each timed",
             params={"warmup": PINGPONG_WARMUP, "transport": "TCP loopback, HMAC-SHA256 handshake"}),
    Workload("pipe_bandwidth", "GB/s", pipe_bandwidth, "fork", 20, 3,
             "Pipe() (socketpair): send_bytes(64 MiB) to a child that recv_bytes() it and sends its length back",
             params={"message_bytes": BANDWIDTH_MSG, "warmup": BANDWIDTH_WARMUP, "GB": "1e9 bytes"}),
    Workload("lock_uncontended", "ns", lock_uncontended, "fork", 20, 5,
             "Lock(): acquire() + release() items times in one process; ns per pair",
             items=1_000_000, quick_items=100_000, params={"warmup": LOCK_WARMUP}),
    Workload("lock_contention", "ops/s", lock_contention, "fork", 5, 2,
             "two processes each add 1 to Value('i') items times under its get_lock(); ops/s of both",
             items=500_000, quick_items=20_000, params={"processes": 2, "lock": "Value('i').get_lock() (an RLock)"}),
    Workload("event_latency", "µs", event_latency, "fork", 5000, 200,
             "two Event()s: set() go, the child wait()s, clear()s it and set()s back; half of each timed round trip",
             params={"warmup": EVENT_WARMUP}),
    Workload("shm_read", "GB/s", shm_read, "fork", 5, 2,
             "a child attaches a 256 MiB shared_memory.SharedMemory by name and sums it (memoryview.cast('Q'), sum())",
             params={"size_bytes": SHM_SIZE, "GB": "1e9 bytes"}),
    Workload("knucleotide", "ms", knucleotide, "fork", 3, 1,
             "Pool(2).apply_async(kcount, (seq,)) x7 then get() of each; seq: the same 64 MiB bytes",
             items=67_108_864, quick_items=1_048_576, params={"tasks": KNUC_TASKS}),
    Workload("knucleotide_rss", "MiB", knucleotide_rss, "fork", 3, 1,
             "peak summed Pss of the parent and Pool(2)'s workers during knucleotide (the summed Rss as rss_mib)",
             items=67_108_864, quick_items=1_048_576, params={"tasks": KNUC_TASKS}),
    Workload("manager_dict_ops", "µs", manager_dict_ops, "fork", 10000, 400,
             "Manager().dict(): a child sets then gets 16-char strings; each op timed (n/2 of each)",
             params={"warmup": MANAGER_WARMUP}),
    Workload("manager_update", "µs", manager_update, "fork", 10000, 400,
             "Manager().dict(): a child does with m.Lock(): d['n'] = d['n'] + 1; each op timed",
             params={"warmup": MANAGER_WARMUP}),
    Workload("manager_seed001", "ms", manager_seed001, "fork", 10, 3,
             "seed 001 whole: Manager(), d['count'] = 50, 50 processes each with m.Lock(): d['count'] -= 1, join, items()",
             params={"processes": SEED001_PROCS}),
    Workload("manager_batch100", "µs", manager_batch100, "fork", 1000, 50,
             "Manager().dict(): a child does d.update(kv) of 100 keys, then 100 d[k]; a sample is one of each",
             params={"warmup": MANAGER_WARMUP // 10, "keys": BATCH_KEYS}),
    Workload("manager_mutex", "µs", manager_mutex, "fork", 5000, 200,
             "Manager().Lock(): a child acquire()s and release()s it; each pair timed",
             params={"warmup": MANAGER_WARMUP}),
    Workload("manager_event", "µs", manager_event, "fork", 2000, 200,
             "two Manager().Event()s: set() go, the child wait()s, clear()s it and set()s back; half of each timed round trip",
             params={"warmup": MANAGER_WARMUP}),
    Workload("manager_queue", "µs", manager_queue, "fork", 5000, 200,
             "Manager().Queue(): a child put()s a 16-char string and get()s it; each pair timed",
             params={"warmup": MANAGER_WARMUP}),
]


# --------------------------------------------------------------------- stats


def summarize(xs):
    """n, median (mean of the two middle ones for an even count), p90 (nearest rank), min, max:
    the same definitions as the Go side's Summarize."""
    s = sorted(xs)
    n = len(s)
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    p90 = s[max(0, -(-9 * n // 10) - 1)]
    return {"n": n, "median": med, "p90": p90, "min": s[0], "max": s[-1]}


def rnd(x):
    return float("%.4g" % x)


def emit(w, samples, extras, items=None):
    import json

    s = summarize(samples)
    params = {
        "workload": w.name,
        "start_method": w.method,
        "op": w.op,
        "impl": "CPython %s multiprocessing" % ".".join(map(str, sys.version_info[:3])),
        "python": ".".join(map(str, sys.version_info[:3])),
    }
    params.update({k: (v if k == "n" else rnd(v)) for k, v in s.items()})
    for k, vs in extras.items():
        params[k] = {kk: (vv if kk == "n" else rnd(vv)) for kk, vv in summarize(vs).items()}
    if w.name == "idle_rss":
        params["settle_ms"] = IDLE_SETTLE * 1000
    if w.name == "worker_rss":
        params["settle_ms"] = POOL_SETTLE * 1000
    if items is not None:
        params["items"] = items
    params.update(w.params)
    if w.name.startswith(("pool_", "executor_", "worker_")):
        params["workers"] = POOL_WORKERS
    elif w.name == "apply_latency":
        params["workers"] = 1
    print(json.dumps({"name": w.row, "unit": w.unit, "value": rnd(s["median"]), "params": params}), flush=True)


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
    for w in WORKLOADS:
        if only and w.name not in only and w.row not in only:
            continue
        if w.method not in multiprocessing.get_all_start_methods():
            print("# %s: start method %s not available here, skipped" % (w.row, w.method), file=sys.stderr)
            continue
        n = w.quick_n if args.quick else w.n
        items = w.quick_items if args.quick else w.items
        ctx = multiprocessing.get_context(w.method)
        t0 = time.monotonic()
        if items is None:
            samples, extras = w.fn(ctx, n)
        else:
            samples, extras = w.fn(ctx, n, items)
        emit(w, samples, extras, items)
        print("# python %s: %d samples in %.1fs" % (w.row, n, time.monotonic() - t0), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
