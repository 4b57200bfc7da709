//go:build unix

package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Kind says what a workload's figure is, and so how mp's figure compares with another.
type Kind int

const (
	// Latency is a time per operation. Lower is better; a ratio reads "× faster".
	Latency Kind = iota
	// Memory is a memory size. Lower is better; a ratio reads "× less memory".
	Memory
	// Throughput is a rate, such as tasks per second. Higher is better; a ratio reads "×
	// faster".
	Throughput
)

// better returns how many times better a is than b: b/a when lower is better (Latency, Memory),
// a/b when higher is (Throughput).
func (k Kind) better(a, b float64) float64 {
	if k == Throughput {
		return a / b
	}
	return b / a
}

// Size is how much one call of a workload's MP or Floor measures.
type Size struct {
	// N is how many samples to take.
	N int
	// Items is how many tasks make one sample, for a workload whose sample is a batch (its
	// Items or QuickItems); 0 for the others.
	Items int
}

// Result is what one implementation of a workload measured.
type Result struct {
	// Samples holds one figure per operation (or per process), in the workload's unit.
	Samples []float64
	// Extra holds further per-operation figures by name, e.g. "start_ms" for the Start part of
	// a Start+Wait; they are summarised in the JSON output and the progress lines.
	Extra map[string][]float64
	// Params says how the figures were taken (counts, fields read, settle time, …).
	Params map[string]any
}

// merge appends the samples and extras of o to r; r keeps its Params, or takes o's when it has
// none.
func (r *Result) merge(o Result) {
	r.Samples = append(r.Samples, o.Samples...)
	for k, v := range o.Extra {
		if r.Extra == nil {
			r.Extra = make(map[string][]float64)
		}
		r.Extra[k] = append(r.Extra[k], v...)
	}
	if r.Params == nil {
		r.Params = o.Params
	}
}

func (r *Result) addExtra(name string, v float64) {
	if r.Extra == nil {
		r.Extra = make(map[string][]float64)
	}
	r.Extra[name] = append(r.Extra[name], v)
}

// Workload is one line of the comparison: an operation measured with mp, with Python's
// multiprocessing (by python/mp_bench.py, once per start method in Python) and against the
// machine's floor. A Workload is plain data; All lists them. To add one, write a file that
// defines it (see spawn_join.go), add it to All, and add its Python side to mp_bench.py under the
// same name (see README.md).
type Workload struct {
	Name string // the name in tables, -only and the Python script, e.g. "spawn_join"
	What string // what is measured, one line
	Unit string // the unit of the samples, e.g. "ms" or "MiB"
	Kind Kind

	// Samples and QuickSamples are how many samples MP and Floor take in a full and a -quick
	// run.
	Samples, QuickSamples int

	// Items and QuickItems are how many tasks make one sample in a full and a -quick run, for
	// a workload whose sample is a batch (a Map, a burst of Submits); 0 for the others. The
	// Python script has the same counts (TestPythonScriptRows checks).
	Items, QuickItems int

	// MP measures the workload with mp, in this process, taking s.N samples; nil when mp's
	// side is not there yet (the cluster workloads, until the mpnats pool is in): the mp column
	// then reads –.
	MP func(ctx context.Context, s Size) (Result, error)

	// Floor measures the same operation done as cheaply as the machine allows, with the
	// trivial program fl; nil when the workload has no floor.
	Floor func(ctx context.Context, fl *Floor, s Size) (Result, error)

	// FloorAlt, when set, names an extra of the floor's result that is a second floor figure
	// (e.g. "os_file_us"), and FloorAltLabel says what it is (e.g. "os.File"). The floor cell
	// and the floor targets show it beside the primary one.
	FloorAlt, FloorAltLabel string

	// Python lists the start methods python/mp_bench.py measures the workload with; its rows
	// are named Name + "_" + method.
	Python []string

	// Dask says that python/dask_bench.py measures the workload with dask.distributed, as its
	// row Name + "_dask" (a cluster workload, shown in the table of cluster workloads).
	Dask bool

	// Targets are the goals mp's figure is checked against under the table.
	Targets []Target
}

// size returns how much to measure.
func (w *Workload) size(quick bool) Size {
	if quick {
		return Size{N: w.QuickSamples, Items: w.QuickItems}
	}
	return Size{N: w.Samples, Items: w.Items}
}

// Target is a goal for mp's median on a workload: at most Max or at least Min (in the workload's
// unit), within Floor times the floor's median (a time), at least MinFloor times the floor's
// median (a rate), at least Ratio times better than Python with start method Python, or at
// least Dask times better than dask.distributed.
type Target struct {
	Max      float64 // when > 0: mp's median must be at most Max
	Min      float64 // when > 0: mp's median must be at least Min
	Dask     float64 // when > 0: mp must be at least Dask times better than dask
	Floor    float64 // when > 0: mp's median must be at most Floor times the floor's
	MinFloor float64 // when > 0: mp's median must be at least MinFloor times the floor's
	Python   string  // when set: compare with Python's median for this start method
	Ratio    float64 // with Python: mp must be at least Ratio times better than Python
}

// describe says what the target asks, e.g. "median ≤ 2 ms" or "≥ 20× faster than Python spawn".
func (t Target) describe(w *Workload) string {
	if t.Floor > 0 {
		return fmt.Sprintf("median within %g× of the floor", t.Floor)
	}
	if t.MinFloor > 0 {
		return fmt.Sprintf("median ≥ %g%% of the floor", t.MinFloor*100)
	}
	if t.Dask > 0 {
		return fmt.Sprintf("≥ %g× faster than dask", t.Dask)
	}
	if t.Min > 0 {
		return fmt.Sprintf("median ≥ %s %s", num(t.Min), w.Unit)
	}
	if t.Python == "" {
		return fmt.Sprintf("median ≤ %g %s", t.Max, w.Unit)
	}
	better := "faster"
	if w.Kind == Memory {
		better = "less memory"
	}
	if t.Ratio == 1 {
		if w.Kind == Memory {
			return "no more memory than Python " + t.Python
		}
		return "no slower than Python " + t.Python
	}
	return fmt.Sprintf("≥ %g× %s than Python %s", t.Ratio, better, t.Python)
}

// all is every workload, in table order.
var all = []*Workload{
	spawnJoin, runRoundtrip, idleRSS,
	poolMapTiny, poolMapChunk1, goroutinePoolMapChunk1, applyLatency, executorSubmit, workerRSS,
	queueThroughput, queueThroughput1k, pipePingPong, pipeBandwidth, listenPingPong,
	lockUncontended, lockContention, eventLatency, shmRead, knucleotide, knucleotideRSS,
	knucleotideShm, knucleotideShmRSS, managerDictOps, managerUpdate, managerSeed001,
	managerBatch100, managerMutex, managerEvent, managerQueue,
	clusterSubmitLatency, clusterTasks, clusterMapChunked, clusterCPU1, clusterCPU2,
}

// All returns every workload, in the order of the table.
func All() []*Workload { return slices.Clone(all) }

// Select returns the workloads named in only, a comma-separated list, in table order; every
// workload when only is empty. An unknown name is an error that lists the known ones.
func Select(only string) ([]*Workload, error) {
	if strings.TrimSpace(only) == "" {
		return All(), nil
	}
	want := make(map[string]bool)
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var out []*Workload
	for _, w := range all {
		if want[w.Name] {
			out = append(out, w)
			delete(want, w.Name)
		}
	}
	if len(want) > 0 {
		var unknown, known []string
		for n := range want {
			unknown = append(unknown, n)
		}
		for _, w := range all {
			known = append(known, w.Name)
		}
		slices.Sort(unknown)
		return nil, fmt.Errorf("bench: unknown workload %s (known: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return out, nil
}
