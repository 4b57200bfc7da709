//go:build unix

// Command compare measures mp against Python's multiprocessing and the machine's floor, side by
// side in one run, and prints a Markdown table ready to paste into a README:
//
//	go run ./bench/compare [-quick] [-only spawn_join,idle_rss] [-json FILE] [-python python3] [-dask auto]
//
// The Go workloads run in this process (its children are this binary, run again); the floor is
// a trivial Go program built on the fly; the Python side is bench/python/mp_bench.py, embedded,
// run with -python (skipped, with a note, when it is not found or is "none"); the cluster
// workloads' dask.distributed side is bench/python/dask_bench.py, run with -dask (by default the
// first of python3 and /usr/bin/python3 that has dask; skipped, with a note, when none has).
// Progress goes to standard error, the report to standard output.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/bench"
)

func main() {
	mp.Init()
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command with its arguments and outputs; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "take few samples: a smoke run of a few seconds, rough figures")
	only := fs.String("only", "", "comma-separated workloads to run (default all: "+names()+")")
	jsonFile := fs.String("json", "", "also write the report as JSON to `FILE`")
	python := fs.String("python", "python3", "Python `interpreter` to compare with; none skips Python")
	dask := fs.String("dask", "auto", "`interpreter` with dask.distributed for the cluster workloads; auto tries python3, then /usr/bin/python3; none skips dask")
	floorDir := fs.String("floor-dir", "", "build the floor program in `DIR` (default a temporary directory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench/compare [flags]\n\nMeasures mp against Python's multiprocessing and a bare fork+exec floor; prints a Markdown table.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "compare: unexpected arguments %q\n", fs.Args())
		return 2
	}
	rep, err := bench.Compare(ctx, bench.Options{
		Quick:    *quick,
		Only:     *only,
		Python:   *python,
		Dask:     *dask,
		FloorDir: *floorDir,
		Command:  commandLine(args),
		Progress: stderr,
	})
	if err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 1
	}
	if err := rep.WriteMarkdown(stdout); err != nil {
		fmt.Fprintln(stderr, "compare:", err)
		return 1
	}
	if *jsonFile != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonFile, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "compare:", err)
			return 1
		}
	}
	return 0
}

// commandLine is how the command was run, for the report: "go run ./bench/compare" when it was
// run by go run (whose binaries live in a go-build directory), the binary's path otherwise;
// preceded by the environment variables that change the figures, when they are set.
func commandLine(args []string) string {
	cmd := "go run ./bench/compare"
	if exe := os.Args[0]; !strings.Contains(exe, "go-build") && !strings.HasSuffix(exe, ".test") {
		cmd = exe
	}
	var env []string
	for _, k := range []string{"CGO_ENABLED", "GOFLAGS", "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			env = append(env, k+"="+v)
		}
	}
	return strings.TrimSpace(strings.Join(append(env, cmd), " ") + " " + strings.Join(args, " "))
}

func names() string {
	var ns []string
	for _, w := range bench.All() {
		ns = append(ns, w.Name)
	}
	return strings.Join(ns, ",")
}
