//go:build unix

package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// WriteMarkdown writes the report for a README: the command and the machine, the table (workload
// | mp (Go) | Python | floor | mp vs Python | mp vs floor), the targets and the details.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Command: `%s`", r.Command)
	if r.Quick {
		b.WriteString(" (quick: few samples, rough figures)")
	}
	b.WriteString("  \n")
	fmt.Fprintf(&b, "Machine: nproc %d (mp.NumCPU %d, GOMAXPROCS %d)", m.NumCPU, m.MPNumCPU, m.GOMAXPROCS)
	if m.CPU != "" {
		b.WriteString(", " + m.CPU)
	}
	if m.Kernel != "" {
		b.WriteString(", Linux " + m.Kernel)
	}
	fmt.Fprintf(&b, ", %s  \n", m.Platform)
	linking := "static"
	if m.Dynamic {
		linking = "dynamically linked (cgo)"
	}
	floor := "no floor"
	if m.FloorSize > 0 {
		floor = "the floor is a " + size(m.FloorSize) + " static binary"
	}
	fmt.Fprintf(&b, "Go: %s (mp children run this %s binary, %s; %s)  \n", m.Go, size(m.BinarySize), linking, floor)
	if m.Python != "" {
		fmt.Fprintf(&b, "Python: CPython %s multiprocessing (%s)\n", m.Python, m.PythonExe)
	} else {
		b.WriteString("Python: not measured\n")
	}
	if m.Dask != "" {
		fmt.Fprintf(&b, "dask: dask.distributed %s LocalCluster, worker processes of one thread (%s)\n", m.Dask, m.DaskExe)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n> %s\n", n)
	}

	b.WriteString("\n| workload | mp (Go) | Python | floor | mp vs Python | mp vs floor |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	var cluster []*Workload
	for _, wl := range r.workloads {
		if wl.Dask {
			cluster = append(cluster, wl)
			continue
		}
		mpm := r.find(wl.Name, "mp", "")
		fl := r.find(wl.Name, "floor", "")
		var pys []*Measurement
		for _, v := range wl.Python {
			if p := r.find(wl.Name, "python", v); p != nil {
				pys = append(pys, p)
			}
		}
		if len(pys) == 0 {
			pys = []*Measurement{nil}
		}
		for _, py := range pys {
			label := wl.Name
			if py != nil {
				label += " (" + py.Variant + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n",
				label, cell(mpm), cell(py), floorCell(wl, fl), vsPython(wl, mpm, py), vsFloor(mpm, fl))
		}
	}
	b.WriteString("\nCells: median (p90) over the samples; n in the details below. (spawn)/(fork): Python's start method; " +
		"mp has one (a fresh exec of the binary, like spawn), so its figure repeats on every row. " +
		"floor: the same operation on a trivial Go program with os/exec (apply_latency: a 1-byte pipe ping-pong with it, " +
		"raw blocking syscalls; then through os.File and the runtime's poller; pipe_pingpong: the same over a unix socketpair; " +
		"pipe_bandwidth: 64 MiB over a unix socketpair in raw 1 MiB writes; " +
		"lock_uncontended: a bare futex mutex in this process; lock_contention: two trivial children with a futex mutex; " +
		"event_latency: a futex ping-pong with a trivial child, then the same spinning first; " +
		"shm_read: a 256 MiB copy in this process, then a warm sum of 256 MiB). " +
		"tasks/s, msgs/s, ops/s, MB/s, GB/s: higher is better.\n")

	if len(cluster) > 0 {
		b.WriteString("\nCluster workloads, mp's NATS executor (mpnats) against dask.distributed:\n\n")
		b.WriteString("| workload | mp (Go) | dask | mp vs dask |\n|---|---|---|---|\n")
		for _, wl := range cluster {
			mpm, dk := r.find(wl.Name, "mp", ""), r.find(wl.Name, "dask", "")
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", wl.Name, cell(mpm), cell(dk), vsPython(wl, mpm, dk))
		}
		b.WriteString("\ndask: a LocalCluster of worker processes with one thread each, warmed with 100 tasks, " +
			"tasks submitted with pure=False; cluster_cpu_*: each task spins 10 ms of its thread's CPU time. " +
			"mp: an mpnats pool on an in-process embedded server with one agent of 2 slots (cluster_cpu_*: " +
			"NewLocalPool, 1 or 2 agent processes of 1 slot on loopback), warmed with 100 tasks.\n")
	}

	var targets []string
	for _, wl := range r.workloads {
		for _, t := range wl.Targets {
			targets = append(targets, fmt.Sprintf("- %s: %s — %s", wl.Name, t.describe(wl), r.check(wl, t)))
		}
	}
	if len(targets) > 0 {
		b.WriteString("\nTargets:\n\n" + strings.Join(targets, "\n") + "\n")
	}

	b.WriteString("\nDetails (median, p90, min–max, n):\n\n")
	for _, wl := range r.workloads {
		for i := range r.Measurements {
			ms := &r.Measurements[i]
			if ms.Workload != wl.Name {
				continue
			}
			fmt.Fprintf(&b, "- %s %s: %s", ms.Name, ms.Impl, stats(ms.Summary, ms.Unit))
			keys := make([]string, 0, len(ms.Extra))
			for k := range ms.Extra {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "; %s %s", k, stats(ms.Extra[k], ""))
			}
			if p99, ok := ms.Params["p99"].(float64); ok && ms.Impl == "dask" && wl.Kind == Latency {
				fmt.Fprintf(&b, "; p99 %s", num(p99))
			}
			if ms.Impl == "python" || ms.Impl == "dask" {
				// The Python scripts gives each extra figure as a summary in params.
				keys = keys[:0]
				for k, v := range ms.Params {
					if s, ok := v.(map[string]any); ok && s["median"] != nil {
						keys = append(keys, k)
					}
				}
				slices.Sort(keys)
				for _, k := range keys {
					s := ms.Params[k].(map[string]any)
					med, _ := s["median"].(float64)
					fmt.Fprintf(&b, "; %s %s", k, num(med))
				}
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// find returns the measurement of a workload by an implementation, or nil.
func (r *Report) find(workload, impl, variant string) *Measurement {
	for i := range r.Measurements {
		m := &r.Measurements[i]
		if m.Workload == workload && m.Impl == impl && m.Variant == variant {
			return m
		}
	}
	return nil
}

// check says whether mp's figure meets t.
func (r *Report) check(wl *Workload, t Target) string {
	mpm := r.find(wl.Name, "mp", "")
	if mpm == nil {
		return "not measured"
	}
	if t.Floor > 0 || t.MinFloor > 0 {
		fl := r.find(wl.Name, "floor", "")
		if fl == nil || fl.Median <= 0 {
			return "not measured (no floor figure)"
		}
		verdict := "MISSED"
		if t.Floor > 0 && mpm.Median <= t.Floor*fl.Median || t.MinFloor > 0 && mpm.Median >= t.MinFloor*fl.Median {
			verdict = "met"
		}
		of := func(f float64) string { // mp's median against a floor figure f
			if t.MinFloor > 0 {
				return fmt.Sprintf("%.0f%%", 100*mpm.Median/f)
			}
			return ratio(mpm.Median/f) + "×"
		}
		out := fmt.Sprintf("%s (mp %s vs floor %s %s: %s", verdict, num(mpm.Median), num(fl.Median), wl.Unit, of(fl.Median))
		if alt, ok := fl.Extra[wl.FloorAlt]; ok && alt.Median > 0 {
			out += fmt.Sprintf("; vs the %s floor %s %s: %s", wl.FloorAltLabel, num(alt.Median), wl.Unit, of(alt.Median))
		}
		return out + ")"
	}
	if t.Dask > 0 {
		dk := r.find(wl.Name, "dask", "")
		if dk == nil {
			return "not measured (no dask figure)"
		}
		verdict := "MISSED"
		if mpm.Median > 0 && dk.Median > 0 && wl.Kind.better(mpm.Median, dk.Median) >= t.Dask {
			verdict = "met"
		}
		return fmt.Sprintf("%s (mp %s vs dask %s %s: %s)", verdict, num(mpm.Median), num(dk.Median), wl.Unit, vsPython(wl, mpm, dk))
	}
	if t.Min > 0 {
		if mpm.Median >= t.Min {
			return fmt.Sprintf("met (%s %s)", num(mpm.Median), wl.Unit)
		}
		return fmt.Sprintf("MISSED (%s %s)", num(mpm.Median), wl.Unit)
	}
	if t.Python == "" {
		if mpm.Median <= t.Max {
			return fmt.Sprintf("met (%s %s)", num(mpm.Median), wl.Unit)
		}
		return fmt.Sprintf("MISSED (%s %s)", num(mpm.Median), wl.Unit)
	}
	py := r.find(wl.Name, "python", t.Python)
	if py == nil {
		return "not measured (no Python figure)"
	}
	verdict := "MISSED"
	if mpm.Median > 0 && py.Median > 0 && wl.Kind.better(mpm.Median, py.Median) >= t.Ratio {
		verdict = "met"
	}
	return fmt.Sprintf("%s (mp %s vs Python %s %s: %s)", verdict, num(mpm.Median), num(py.Median), wl.Unit, vsPython(wl, mpm, py))
}

func cell(m *Measurement) string {
	if m == nil || m.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%s %s (%s)", num(m.Median), m.Unit, num(m.P90))
}

// floorCell is the floor's cell: its figure, then the second floor figure when the workload has
// one.
func floorCell(wl *Workload, fl *Measurement) string {
	c := cell(fl)
	if fl == nil || wl.FloorAlt == "" {
		return c
	}
	if alt, ok := fl.Extra[wl.FloorAlt]; ok && alt.N > 0 {
		c += fmt.Sprintf("; %s %s %s (%s)", wl.FloorAltLabel, num(alt.Median), fl.Unit, num(alt.P90))
	}
	return c
}

// vsPython says how mp compares with Python (or dask): "31× faster", "1.20× slower", "4.6× less
// memory".
func vsPython(wl *Workload, mpm, py *Measurement) string {
	if mpm == nil || py == nil || mpm.Median <= 0 || py.Median <= 0 {
		return "–"
	}
	r := wl.Kind.better(mpm.Median, py.Median)
	better, worse := "faster", "slower"
	if wl.Kind == Memory {
		better, worse = "less memory", "more memory"
	}
	if r >= 1 {
		return ratio(r) + "× " + better
	}
	return ratio(1/r) + "× " + worse
}

// vsFloor says how far mp is from the floor: "1.21× (+0.30 ms)", mp's figure as a multiple of
// the floor's.
func vsFloor(mpm, fl *Measurement) string {
	if mpm == nil || fl == nil || fl.Median <= 0 {
		return "–"
	}
	d := mpm.Median - fl.Median
	sign := "+"
	if d < 0 {
		sign = "−"
	}
	return fmt.Sprintf("%s× (%s%s %s)", ratio(mpm.Median/fl.Median), sign, num(math.Abs(d)), mpm.Unit)
}

func stats(s Summary, unit string) string {
	if unit != "" {
		unit = " " + unit
	}
	return fmt.Sprintf("%s%s, p90 %s, %s–%s, n=%d", num(s.Median), unit, num(s.P90), num(s.Min), num(s.Max), s.N)
}

// num formats a figure with three significant digits, without an exponent; from ten thousand on
// with a k or M suffix ("48.2k", "5.44M").
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 1e6:
		return sig3(v/1e6) + "M"
	case a >= 1e4:
		return sig3(v/1e3) + "k"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return sig3(v)
	}
}

// sig3 formats v, below 1000 in magnitude, with three significant digits.
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// ratio formats a ratio: two decimals under 2, one under 10, none above.
func ratio(r float64) string {
	switch {
	case r < 2:
		return strconv.FormatFloat(r, 'f', 2, 64)
	case r < 10:
		return strconv.FormatFloat(r, 'f', 1, 64)
	default:
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
}

// size formats a byte count in MiB.
func size(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}
