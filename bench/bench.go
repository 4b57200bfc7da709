//go:build unix

// Package bench is mp's benchmark harness: it measures mp against Python's multiprocessing and
// against the machine's floor (a bare fork+exec of a trivial Go binary), side by side in one run.
//
// Each workload (see All) is measured three ways: with mp, in this process; with Python, by the
// stdlib-only script python/mp_bench.py (embedded here, see PythonScript); and, where it has one,
// against the floor (see Floor). The cluster workloads are measured against dask.distributed
// instead, by python/dask_bench.py (see DaskScript), run with an interpreter that has dask.
// Compare runs them all and prints a Markdown table;
// `go run ./bench/compare` is the command around it, and bench_test.go holds the same workloads
// as Go benchmarks. The mp functions the workloads run are registered at package level in this
// package, so any binary that imports it, and calls mp.Init first in main or TestMain, can run
// them.
package bench

import _ "embed"

//go:embed python/mp_bench.py
var pythonScript string

// PythonScript returns the source of python/mp_bench.py, the Python side of the comparison, as it
// was when this binary was built.
func PythonScript() string { return pythonScript }

//go:embed python/dask_bench.py
var daskScript string

// DaskScript returns the source of python/dask_bench.py, the dask.distributed side of the cluster
// workloads, as it was when this binary was built.
func DaskScript() string { return daskScript }
