package bench

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mptest"
)

// TestMain lets the test binary act as the mp children the benchmarks start (mptest.Main calls
// mp.Init first, then m.Run), and fails the run if a child or a goroutine is left behind.
func TestMain(m *testing.M) { mptest.Main(m) }

// noRaceExitSleep spares the children of a -race test binary the race runtime's one-second sleep
// at exit (GORACE atexit_sleep_ms, 1000 by default), which would otherwise dominate every
// process's cost. It does nothing in a build without the race detector.
func noRaceExitSleep(tb testing.TB) {
	tb.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// BenchmarkStartWait is spawn_join with mp: NewProcess(Empty).Start + Wait.
func BenchmarkStartWait(b *testing.B) {
	noRaceExitSleep(b)
	ctx := context.Background()
	b.ReportAllocs()
	var start time.Duration
	for b.Loop() {
		s, _, err := StartWait(ctx)
		if err != nil {
			b.Fatal(err)
		}
		start += s
	}
	b.ReportMetric(float64(start.Nanoseconds())/float64(b.N), "start-ns/op")
}

// BenchmarkRun is run_roundtrip with mp: mp.Run(ctx, Square, 7).
func BenchmarkRun(b *testing.B) {
	noRaceExitSleep(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := RunSquare(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForkExecFloor is spawn_join's floor: os/exec running the trivial program.
func BenchmarkForkExecFloor(b *testing.B) {
	noRaceExitSleep(b)
	ctx := context.Background()
	fl, err := BuildFloor(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := fl.Run(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdleRSS is idle_rss with mp; its figure is the rss-MiB metric (the time per op is
// mostly the settle delay).
func BenchmarkIdleRSS(b *testing.B) {
	noRaceExitSleep(b)
	ctx := context.Background()
	b.ReportAllocs()
	var rss []float64
	for b.Loop() {
		res, err := idleRSS.MP(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		rss = append(rss, res.Samples...)
	}
	b.ReportMetric(Summarize(rss).Median, "rss-MiB")
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		in   []float64
		want Summary
	}{
		{nil, Summary{}},
		{[]float64{3}, Summary{N: 1, Median: 3, P90: 3, Min: 3, Max: 3}},
		{[]float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, P90: 4, Min: 1, Max: 4}},
		{[]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, Summary{N: 10, Median: 5.5, P90: 9, Min: 1, Max: 10}},
		{[]float64{5, 1, 4, 2, 3}, Summary{N: 5, Median: 3, P90: 5, Min: 1, Max: 5}},
	}
	for _, tt := range tests {
		if got := Summarize(tt.in); got != tt.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestSelect(t *testing.T) {
	ws, err := Select("")
	if err != nil || len(ws) != len(all) {
		t.Fatalf("Select(\"\") = %d workloads, %v; want %d", len(ws), err, len(all))
	}
	ws, err = Select("idle_rss, spawn_join")
	if err != nil || len(ws) != 2 || ws[0].Name != "spawn_join" || ws[1].Name != "idle_rss" {
		t.Fatalf("Select(idle_rss, spawn_join) = %v, %v; want spawn_join, idle_rss in table order", ws, err)
	}
	if _, err := Select("spawn_join,nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("Select with an unknown name: err = %v, want one naming it", err)
	}
}

// TestPythonScriptRows checks that the Python script measures every Python row the Go workloads
// expect, under the same names, without running Python.
func TestPythonScriptRows(t *testing.T) {
	re := regexp.MustCompile(`Workload\("(\w+)", "[^"]*", \w+, "(\w+)"`)
	var script []string
	for _, m := range re.FindAllStringSubmatch(PythonScript(), -1) {
		script = append(script, m[1]+"_"+m[2])
	}
	var want []string
	for _, w := range all {
		for _, v := range w.Python {
			want = append(want, w.Name+"_"+v)
		}
	}
	slices.Sort(script)
	slices.Sort(want)
	if !slices.Equal(script, want) {
		t.Errorf("python/mp_bench.py has rows %v; the Go workloads expect %v", script, want)
	}
}

func TestParsePythonRows(t *testing.T) {
	out := "# progress\n" +
		`{"name": "spawn_join_fork", "unit": "ms", "value": 2.0, "params": {"start_method": "fork", "n": 20, "p90": 2.5, "min": 1.5, "max": 3.0}}` + "\n"
	rows, err := parsePythonRows(strings.NewReader(out))
	if err != nil || len(rows) != 1 {
		t.Fatalf("parsePythonRows = %v, %v; want one row", rows, err)
	}
	m := fromPython(spawnJoin, rows[0])
	want := Summary{N: 20, Median: 2, P90: 2.5, Min: 1.5, Max: 3}
	if m.Impl != "python" || m.Variant != "fork" || m.Summary != want {
		t.Errorf("fromPython = %+v, want a python fork measurement with %+v", m, want)
	}
	if _, err := parsePythonRows(strings.NewReader("{not json\n")); err == nil {
		t.Error("parsePythonRows accepted a bad line")
	}
}

func TestFormat(t *testing.T) {
	mpm := &Measurement{Unit: "ms", Summary: Summary{N: 1, Median: 2}}
	tests := []struct{ got, want string }{
		{vsPython(spawnJoin, mpm, &Measurement{Summary: Summary{Median: 60}}), "30× faster"},
		{vsPython(spawnJoin, mpm, &Measurement{Summary: Summary{Median: 1.6}}), "1.25× slower"},
		{vsPython(idleRSS, mpm, &Measurement{Summary: Summary{Median: 9}}), "4.5× less memory"},
		{vsPython(spawnJoin, mpm, nil), "–"},
		{vsFloor(mpm, &Measurement{Summary: Summary{Median: 1.5}}), "1.33× (+0.500 ms)"},
		{cell(mpm), "2.00 ms (0)"},
		{num(61.04), "61.0"},
		{num(1234.5), "1234"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestReadMem(t *testing.T) {
	m, err := ReadMem(os.Getpid())
	if err != nil || m.RSS <= 0 {
		t.Fatalf("ReadMem(self) = %+v, %v; want a positive RSS", m, err)
	}
	if _, err := ReadMem(-1); err == nil {
		t.Error("ReadMem(-1) succeeded")
	}
}

// TestWorkloadsQuick runs every Go-side measurement once, the floor included.
func TestWorkloadsQuick(t *testing.T) {
	noRaceExitSleep(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fl, err := BuildFloor(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range all {
		res, err := w.MP(ctx, 2)
		if err != nil || len(res.Samples) != 2 || Summarize(res.Samples).Min <= 0 {
			t.Errorf("%s with mp = %v, %v; want 2 positive samples", w.Name, res.Samples, err)
		}
		if w.Floor != nil {
			res, err := w.Floor(ctx, fl, 2)
			if err != nil || len(res.Samples) != 2 || Summarize(res.Samples).Min <= 0 {
				t.Errorf("%s floor = %v, %v; want 2 positive samples", w.Name, res.Samples, err)
			}
		}
	}
	if n := len(mp.ActiveChildren()); n != 0 {
		t.Errorf("%d children still active", n)
	}
}
