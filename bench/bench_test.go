//go:build unix

package bench

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
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
		res, err := idleRSS.MP(ctx, Size{N: 1})
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

// TestPythonScriptRows checks, without running Python, that the Python script measures every
// Python row the Go workloads expect, under the same names, in the same unit, and with the same
// item counts.
func TestPythonScriptRows(t *testing.T) {
	script := PythonScript()
	head := regexp.MustCompile(`Workload\("(\w+)", "([^"]*)", \w+, "(\w+)"`)
	itemsRe := regexp.MustCompile(`\bitems=([\d_]+)`)
	quickRe := regexp.MustCompile(`\bquick_items=([\d_]+)`)
	byName := make(map[string]*Workload)
	for _, w := range all {
		byName[w.Name] = w
	}
	count := func(re *regexp.Regexp, s string) int {
		m := re.FindStringSubmatch(s)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(strings.ReplaceAll(m[1], "_", ""))
		return n
	}
	var rows []string
	locs := head.FindAllStringSubmatchIndex(script, -1)
	for i, loc := range locs {
		name, unit, method := script[loc[2]:loc[3]], script[loc[4]:loc[5]], script[loc[6]:loc[7]]
		rows = append(rows, name+"_"+method)
		end := len(script)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		call := script[loc[1]:end] // the rest of this Workload(...) line, up to the next
		w := byName[name]
		if w == nil {
			continue
		}
		if unit != w.Unit {
			t.Errorf("python/mp_bench.py measures %s_%s in %q; the Go workload in %q", name, method, unit, w.Unit)
		}
		if got := count(itemsRe, call); got != w.Items {
			t.Errorf("python/mp_bench.py: %s_%s has items=%d; the Go workload %d", name, method, got, w.Items)
		}
		if got := count(quickRe, call); got != w.QuickItems {
			t.Errorf("python/mp_bench.py: %s_%s has quick_items=%d; the Go workload %d", name, method, got, w.QuickItems)
		}
	}
	var want []string
	for _, w := range all {
		for _, v := range w.Python {
			want = append(want, w.Name+"_"+v)
		}
	}
	slices.Sort(rows)
	slices.Sort(want)
	if !slices.Equal(rows, want) {
		t.Errorf("python/mp_bench.py has rows %v; the Go workloads expect %v", rows, want)
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
		{num(48213), "48.2k"},
		{num(5_437_000), "5.44M"},
		{vsPython(poolMapTiny, &Measurement{Summary: Summary{Median: 30e6}}, &Measurement{Summary: Summary{Median: 5e6}}), "6.0× faster"},
		{vsPython(poolMapTiny, &Measurement{Summary: Summary{Median: 4e6}}, &Measurement{Summary: Summary{Median: 5e6}}), "1.25× slower"},
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

// TestWorkloadsQuick runs every Go-side measurement once, with two samples of its quick size,
// the floor included.
func TestWorkloadsQuick(t *testing.T) {
	noRaceExitSleep(t)
	// About 40 s on an idle 2-core machine under the race detector, and over a minute on a loaded
	// one; the bound leaves room for that.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fl, err := BuildFloor(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func(n int) { knucSize = n }(knucSize)
	knucSize = 2 * mp.BulkThreshold // still through shared memory, in a fraction of the time
	for _, w := range all {
		if w.MP == nil {
			continue // a workload without an mp side
		}
		s := Size{N: 2, Items: w.QuickItems}
		t0 := time.Now()
		res, err := w.MP(ctx, s)
		if err != nil || len(res.Samples) != 2 || Summarize(res.Samples).Min <= 0 {
			t.Errorf("%s with mp = %v, %v; want 2 positive samples", w.Name, res.Samples, err)
		}
		for k, v := range res.Extra {
			if len(v) != 2 {
				t.Errorf("%s with mp: extra %s has %d samples, want 2", w.Name, k, len(v))
			}
		}
		if w.Floor != nil {
			res, err := w.Floor(ctx, fl, s)
			if err != nil || len(res.Samples) != 2 || Summarize(res.Samples).Min <= 0 {
				t.Errorf("%s floor = %v, %v; want 2 positive samples", w.Name, res.Samples, err)
			}
			if w.FloorAlt != "" && Summarize(res.Extra[w.FloorAlt]).Min <= 0 {
				t.Errorf("%s floor: extra %s = %v, want positive samples", w.Name, w.FloorAlt, res.Extra[w.FloorAlt])
			}
		}
		t.Logf("%s: %v", w.Name, time.Since(t0).Round(time.Millisecond))
	}
	if n := len(mp.ActiveChildren()); n != 0 {
		t.Errorf("%d children still active", n)
	}
}

func TestPingPongFloor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fl, err := BuildFloor(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []PingPongMode{PipeRaw, PipeOS, SocketOS, SocketRaw} {
		rts, err := fl.PingPong(ctx, 50, 5, mode)
		if err != nil || len(rts) != 50 {
			t.Fatalf("PingPong(%v) = %d round trips, %v; want 50", mode, len(rts), err)
		}
		for _, d := range rts {
			if d <= 0 {
				t.Fatalf("PingPong(%v): a round trip of %v", mode, d)
			}
		}
	}
}

// BenchmarkPoolMap is pool_map_tiny and pool_map_chunk1 with mp, smaller: one op is one Map;
// ns/task is the Map's time divided among its items.
func BenchmarkPoolMap(b *testing.B) {
	for _, bc := range []struct {
		name  string
		items int
		opts  []mp.CallOption
	}{
		{"default", 100_000, nil},
		{"chunk1", 2_000, []mp.CallOption{mp.WithChunkSize(1)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			noRaceExitSleep(b)
			ctx := context.Background()
			p, err := StartPool(ctx, poolWorkers)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			xs := Ints(bc.items)
			b.ReportAllocs()
			var took time.Duration
			for b.Loop() {
				d, err := MapSquares(ctx, p, xs, bc.opts...)
				if err != nil {
					b.Fatal(err)
				}
				took += d
			}
			b.ReportMetric(float64(took.Nanoseconds())/float64(b.N)/float64(bc.items), "ns/task")
		})
	}
}

// BenchmarkGoroutinePoolMap is goroutine_pool_map_chunk1, smaller: one op is one Map of 2,000
// items, one call each, on a 2-goroutine GoroutinePool.
func BenchmarkGoroutinePoolMap(b *testing.B) {
	ctx := context.Background()
	p, err := mp.NewGoroutinePool(ctx, mp.WithWorkers(poolWorkers))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	xs := Ints(2_000)
	b.ReportAllocs()
	var took time.Duration
	for b.Loop() {
		d, err := MapSquares(ctx, p, xs, mp.WithChunkSize(1))
		if err != nil {
			b.Fatal(err)
		}
		took += d
	}
	b.ReportMetric(float64(took.Nanoseconds())/float64(b.N)/float64(len(xs)), "ns/task")
}

// BenchmarkPoolApply is apply_latency with mp: one Apply of Empty on a warm 1-worker pool per op.
func BenchmarkPoolApply(b *testing.B) {
	noRaceExitSleep(b)
	ctx := context.Background()
	p, err := StartPool(ctx, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mp.Apply(ctx, p, Empty, struct{}{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPoolSubmit is executor_submit with mp: b.N Submits of Empty to a warm 2-worker pool,
// then a Wait on each; one op is one task, submitted and waited for.
func BenchmarkPoolSubmit(b *testing.B) {
	noRaceExitSleep(b)
	ctx := context.Background()
	p, err := StartPool(ctx, poolWorkers)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ReportAllocs()
	b.ResetTimer()
	submit, _, err := SubmitEmpties(ctx, p, b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(submit.Nanoseconds())/float64(b.N), "submit-ns/op")
}

// TestTargets checks the verdicts under the table: a throughput ratio (higher is better), a
// latency ratio and a floor multiple.
func TestTargets(t *testing.T) {
	rep := &Report{Measurements: []Measurement{
		{Workload: "pool_map_tiny", Impl: "mp", Summary: Summary{N: 1, Median: 30e6}},
		{Workload: "pool_map_tiny", Impl: "python", Variant: "fork", Summary: Summary{N: 1, Median: 5e6}},
		{Workload: "apply_latency", Impl: "mp", Summary: Summary{N: 1, Median: 20}},
		{Workload: "apply_latency", Impl: "python", Variant: "fork", Summary: Summary{N: 1, Median: 150}},
		{Workload: "apply_latency", Impl: "floor", Summary: Summary{N: 1, Median: 5},
			Extra: map[string]Summary{"os_file_us": {N: 1, Median: 10}}},
		{Workload: "shm_read", Impl: "mp", Summary: Summary{N: 1, Median: 9}},
		{Workload: "shm_read", Impl: "floor", Summary: Summary{N: 1, Median: 10},
			Extra: map[string]Summary{"sum_gbps": {N: 1, Median: 20}}},
	}}
	tests := []struct {
		w    *Workload
		t    Target
		want string
	}{
		{poolMapTiny, Target{Python: "fork", Ratio: 5}, "met (mp 30.0M vs Python 5.00M tasks/s: 6.0× faster)"},
		{poolMapTiny, Target{Python: "fork", Ratio: 10}, "MISSED (mp 30.0M vs Python 5.00M tasks/s: 6.0× faster)"},
		{applyLatency, Target{Python: "fork", Ratio: 5}, "met (mp 20.0 vs Python 150 µs: 7.5× faster)"},
		{applyLatency, Target{Floor: 3}, "MISSED (mp 20.0 vs floor 5.00 µs: 4.0×; vs the os.File floor 10.0 µs: 2.0×)"},
		{applyLatency, Target{Floor: 4}, "met (mp 20.0 vs floor 5.00 µs: 4.0×; vs the os.File floor 10.0 µs: 2.0×)"},
		{executorSubmit, Target{Python: "fork", Ratio: 20}, "not measured"},
		{shmRead, Target{MinFloor: 0.8}, "met (mp 9.00 vs floor 10.0 GB/s: 90%; vs the warm sum floor 20.0 GB/s: 45%)"},
		{shmRead, Target{MinFloor: 0.95}, "MISSED (mp 9.00 vs floor 10.0 GB/s: 90%; vs the warm sum floor 20.0 GB/s: 45%)"},
	}
	for _, tt := range tests {
		if got := rep.check(tt.w, tt.t); got != tt.want {
			t.Errorf("check(%s, %+v) = %q, want %q", tt.w.Name, tt.t, got, tt.want)
		}
	}
	if got := (Target{Floor: 3}).describe(applyLatency); got != "median within 3× of the floor" {
		t.Errorf("describe = %q", got)
	}
	if got := (Target{MinFloor: 0.8}).describe(shmRead); got != "median ≥ 80% of the floor" {
		t.Errorf("describe = %q", got)
	}
}

// BenchmarkQueue is queue_throughput with mp: one run of b.N items from a producer child to a
// consumer child through a new queue; ns/msg is the run alone, without the children's starts.
func BenchmarkQueue(b *testing.B) {
	for _, bc := range []struct {
		name string
		run  func(ctx context.Context, n int) (time.Duration, error)
	}{
		{"int", QueueInts},
		{"1k", func(ctx context.Context, n int) (time.Duration, error) { return QueueBytes(ctx, n, queuePayload) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			noRaceExitSleep(b)
			b.ReportAllocs()
			took, err := bc.run(context.Background(), b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(took.Nanoseconds())/float64(b.N), "ns/msg")
		})
	}
}

// BenchmarkPipePingPong is pipe_pingpong with mp: one op is one Send + Recv round trip with a
// child running Echo.
func BenchmarkPipePingPong(b *testing.B) {
	noRaceExitSleep(b)
	ctx := context.Background()
	c, p, err := PipeChild(ctx, Echo, b.N)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		c.Close()
		if err := p.Wait(ctx); err != nil {
			b.Error(err)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.Send(ctx, 1); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipeBandwidth is pipe_bandwidth with mp: one op is one 64 MiB SendBytes to a child
// running BytesSink and its answer.
func BenchmarkPipeBandwidth(b *testing.B) {
	noRaceExitSleep(b)
	ctx := context.Background()
	c, p, err := PipeChild(ctx, BytesSink, b.N)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		c.Close()
		if err := p.Wait(ctx); err != nil {
			b.Error(err)
		}
	}()
	data := make([]byte, bandwidthMsg)
	b.SetBytes(bandwidthMsg)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.SendBytes(ctx, data); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMutex is lock_uncontended with mp: one op is one Lock + Unlock of an mp.Mutex.
func BenchmarkMutex(b *testing.B) {
	ctx := context.Background()
	m, err := mp.NewMutex()
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Lock(ctx); err != nil {
			b.Fatal(err)
		}
		m.Unlock()
	}
}

// BenchmarkLockContention is lock_contention with mp: one run of b.N increments, half in each of
// two children, under one mp.Mutex; ns/inc is the run alone, without the children's starts.
func BenchmarkLockContention(b *testing.B) {
	noRaceExitSleep(b)
	n := max(b.N/2, 1)
	took, err := LockContention(context.Background(), n)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(took.Nanoseconds())/float64(2*n), "ns/inc")
}

// BenchmarkEventPingPong is event_latency with mp: one op is one round trip (Set, Wait, Clear on
// each side) with a child running EventEcho.
func BenchmarkEventPingPong(b *testing.B) {
	noRaceExitSleep(b)
	b.ReportAllocs()
	if _, err := EventPingPong(context.Background(), b.N, 0); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkShmRead is shm_read with mp: one op is one sample, a child opening a 256 MiB named
// segment and summing it twice, then one summing an anonymous segment it was handed;
// first-GB/s and hot-GB/s are the first child's two passes.
func BenchmarkShmRead(b *testing.B) {
	noRaceExitSleep(b)
	named, _, err := ShmRead(context.Background(), b.N, shmSize)
	if err != nil {
		b.Fatal(err)
	}
	var first, hot []float64
	for _, r := range named {
		first = append(first, gbps(shmSize, r.FirstNs))
		hot = append(hot, gbps(shmSize, r.HotNs))
	}
	b.ReportMetric(Summarize(first).Median, "first-GB/s")
	b.ReportMetric(Summarize(hot).Median, "hot-GB/s")
}

// BenchmarkKNucleotide is the k-nucleotide shape: 7 Submits of KCount on the same 64 MiB
// sequence, then Wait on each, on a 2-worker process pool and on the goroutine version; it
// reports the peak memory of the parent and its workers (peak_rss_MiB, peak_pss_MiB).
func BenchmarkKNucleotide(b *testing.B) {
	for _, c := range []struct {
		name  string
		start func(context.Context) (mp.Executor, func() []int, error)
	}{{"pool", knucProcesses}, {"goroutine", knucGoroutines}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			seq := Sequence()
			want := countK(seq)
			ex, pids, err := c.start(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer ex.(interface{ Close() error }).Close()
			var rss, pss float64
			b.ResetTimer()
			for b.Loop() {
				s := samplePeak(pids)
				err := KNucleotide(ctx, ex, seq, want)
				r, p := s.end()
				if err != nil {
					b.Fatal(err)
				}
				rss, pss = max(rss, r), max(pss, p)
			}
			b.ReportMetric(rss, "peak_rss_MiB")
			b.ReportMetric(pss, "peak_pss_MiB")
		})
	}
}
