//go:build unix

package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// daskWorkloads returns the workloads with a dask side.
func daskWorkloads() []*Workload {
	var ws []*Workload
	for _, w := range all {
		if w.Dask {
			ws = append(ws, w)
		}
	}
	return ws
}

// TestDaskScriptRows checks, without running Python, that python/dask_bench.py measures every
// workload marked Dask, under the same name, in the same unit, with the same item counts.
func TestDaskScriptRows(t *testing.T) {
	script := DaskScript()
	head := regexp.MustCompile(`Workload\("(\w+)", "([^"]*)", \w+, \d+, \d+, \d+,`)
	itemsRe := regexp.MustCompile(`\bitems=([\d_]+)`)
	quickRe := regexp.MustCompile(`\bquick_items=([\d_]+)`)
	count := func(re *regexp.Regexp, s string) int {
		m := re.FindStringSubmatch(s)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(strings.ReplaceAll(m[1], "_", ""))
		return n
	}
	byName := make(map[string]*Workload)
	for _, w := range daskWorkloads() {
		byName[w.Name] = w
	}
	var got []string
	locs := head.FindAllStringSubmatchIndex(script, -1)
	for i, loc := range locs {
		name, unit := script[loc[2]:loc[3]], script[loc[4]:loc[5]]
		got = append(got, name)
		end := len(script)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		call := script[loc[1]:end]
		w := byName[name]
		if w == nil {
			continue
		}
		if unit != w.Unit {
			t.Errorf("python/dask_bench.py measures %s in %q; the Go workload in %q", name, unit, w.Unit)
		}
		if n := count(itemsRe, call); n != w.Items {
			t.Errorf("python/dask_bench.py: %s has items=%d; the Go workload %d", name, n, w.Items)
		}
		if n := count(quickRe, call); n != w.QuickItems {
			t.Errorf("python/dask_bench.py: %s has quick_items=%d; the Go workload %d", name, n, w.QuickItems)
		}
	}
	var want []string
	for _, w := range daskWorkloads() {
		want = append(want, w.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("python/dask_bench.py has workloads %v; the Go workloads marked Dask are %v", got, want)
	}
}

// TestDaskScriptList runs the script's --list (which needs no dask) and checks its rows.
func TestDaskScriptList(t *testing.T) {
	exe, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	script := filepath.Join(t.TempDir(), "dask_bench.py")
	if err := os.WriteFile(script, []byte(DaskScript()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, script, "--list").CombinedOutput()
	if err != nil {
		t.Fatalf("dask_bench.py --list: %v\n%s", err, out)
	}
	var want []string
	for _, w := range daskWorkloads() {
		want = append(want, w.Name+"_dask "+w.Unit)
	}
	if got := strings.Split(strings.TrimSpace(string(out)), "\n"); !slices.Equal(got, want) {
		t.Errorf("dask_bench.py --list = %q, want %q", got, want)
	}
	// An unknown workload is refused, naming the known ones.
	out, err = exec.Command(exe, script, "--only", "nope").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown workload nope") || !strings.Contains(string(out), "cluster_tasks") {
		t.Errorf("dask_bench.py --only nope = %v, %q; want an error naming the known workloads", err, out)
	}
}

// TestFindDask: skipping, a missing interpreter and one without dask each give a reason that
// says what to do; an interpreter with dask is found.
func TestFindDask(t *testing.T) {
	ctx := context.Background()
	if py, why := findDask(ctx, "none"); py != nil || !strings.Contains(why, "-dask=none") {
		t.Errorf("findDask(none) = %v, %q", py, why)
	}
	if py, why := findDask(ctx, "/nonexistent/python3"); py != nil || !strings.Contains(why, "apt-get install python3-distributed") {
		t.Errorf("findDask(/nonexistent/python3) = %v, %q", py, why)
	}
	// An "interpreter" that cannot import anything.
	fake := filepath.Join(t.TempDir(), "python3")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if py, why := findDask(ctx, fake); py != nil || !strings.Contains(why, fake+": no dask.distributed") {
		t.Errorf("findDask(%s) = %v, %q", fake, py, why)
	}

	py, why := findDask(ctx, "auto")
	if py == nil {
		t.Skipf("no interpreter with dask here: %s", why)
	}
	defer py.close()
	if py.version == "" || !filepath.IsAbs(py.exe) {
		t.Errorf("findDask(auto) = %+v", py)
	}
	if b, err := os.ReadFile(py.script); err != nil || string(b) != DaskScript() {
		t.Errorf("the script written is not dask_bench.py: %v", err)
	}
}

// TestClusterTable: the cluster workloads get their own table, mp – while it has no side, and
// their targets are checked against dask.
func TestClusterTable(t *testing.T) {
	rep := &Report{workloads: []*Workload{applyLatency, clusterSubmitLatency, clusterTasks, clusterMapChunked}, Measurements: []Measurement{
		{Workload: "cluster_submit_latency", Name: "cluster_submit_latency_dask", Impl: "dask", Unit: "µs",
			Summary: Summary{N: 2000, Median: 2500, P90: 4000, Min: 900, Max: 9000}, Params: map[string]any{"p99": 7000.0}},
		{Workload: "apply_latency", Name: "apply_latency", Impl: "mp", Unit: "µs", Summary: Summary{N: 1, Median: 20, P90: 25}},
		{Workload: "cluster_tasks", Name: "cluster_tasks_dask", Impl: "dask", Unit: "tasks/s", Summary: Summary{N: 3, Median: 600, P90: 700}},
		{Workload: "cluster_map_chunked", Name: "cluster_map_chunked_dask", Impl: "dask", Unit: "items/s", Summary: Summary{N: 3, Median: 31000, P90: 32000},
			Params: map[string]any{"p99": 33000.0, "batch_items": 125000.0}},
	}}
	var b strings.Builder
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| apply_latency | 20.0 µs (25.0) | – | – | – | – |",
		"| workload | mp (Go) | dask | mp vs dask |",
		"| cluster_submit_latency | – | 2500 µs (4000) | – |",
		"- cluster_submit_latency_dask dask: 2500 µs, p90 4000, 900–9000, n=2000; p99 7000\n",
		"| cluster_tasks | – | 600 tasks/s (700) | – |",
		"| cluster_map_chunked | – | 31.0k items/s (32.0k) | – |",
		"- cluster_tasks: ≥ 10× faster than dask — not measured",
		"- cluster_map_chunked: median ≥ 200k items/s — not measured",
		"- cluster_map_chunked_dask dask: 31.0k items/s, p90 32.0k, 0–0, n=3\n", // p99 for latencies only
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| cluster_tasks | – | – |") {
		t.Errorf("a cluster workload in the main table:\n%s", out)
	}

	rep.Measurements = append(rep.Measurements,
		Measurement{Workload: "cluster_tasks", Impl: "mp", Summary: Summary{N: 1, Median: 10_000}},
		Measurement{Workload: "cluster_map_chunked", Impl: "mp", Summary: Summary{N: 1, Median: 150_000}})
	for _, tt := range []struct {
		w    *Workload
		t    Target
		want string
	}{
		{clusterTasks, Target{Dask: 10}, "met (mp 10.0k vs dask 600 tasks/s: 17× faster)"},
		{clusterTasks, Target{Dask: 20}, "MISSED (mp 10.0k vs dask 600 tasks/s: 17× faster)"},
		{clusterMapChunked, Target{Min: 200_000}, "MISSED (150k items/s)"},
		{clusterMapChunked, Target{Min: 100_000}, "met (150k items/s)"},
	} {
		if got := rep.check(tt.w, tt.t); got != tt.want {
			t.Errorf("check(%s, %+v) = %q, want %q", tt.w.Name, tt.t, got, tt.want)
		}
	}
}

// TestCompareDask runs one cluster workload through Compare with the real dask, where it is
// installed: the dask figure and mp's are there, each at most what one worker spinning 10 ms a
// task can do.
func TestCompareDask(t *testing.T) {
	if py, why := findDask(context.Background(), "auto"); py == nil {
		t.Skipf("no interpreter with dask here: %s", why)
	} else {
		py.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Compare(ctx, Options{Quick: true, Only: "cluster_cpu_1w", Python: "none", Dask: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	dk := rep.find("cluster_cpu_1w", "dask", "")
	if dk == nil || dk.N != clusterCPU1.QuickSamples || dk.Median <= 0 || dk.Median > 100 {
		// 1 worker, 10 ms of CPU a task: at most 100 tasks/s.
		t.Fatalf("dask measurement = %+v, notes %q; want %d samples of 0 < tasks/s ≤ 100", dk, rep.Notes, clusterCPU1.QuickSamples)
	}
	if m := rep.find("cluster_cpu_1w", "mp", ""); m == nil || m.N != clusterCPU1.QuickSamples || m.Median <= 0 || m.Median > 100 {
		t.Fatalf("mp measurement = %+v; want %d samples of 0 < tasks/s ≤ 100", m, clusterCPU1.QuickSamples)
	}
	if rep.Machine.Dask == "" {
		t.Error("the report does not say which dask ran")
	}
}
