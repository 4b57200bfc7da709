//go:build unix

package bench

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/mp-go/mp"
)

// Options configures Compare.
type Options struct {
	// Quick takes few samples: a smoke run, seconds long, whose figures are rough.
	Quick bool
	// Only is a comma-separated list of workload names; empty means all of them.
	Only string
	// Python is the Python interpreter, a name looked up on PATH or a path; "" or "none" skips
	// the Python side.
	Python string
	// Dask is the interpreter with dask.distributed for the cluster workloads: a name on PATH
	// or a path, "auto" to try python3 and /usr/bin/python3, "" or "none" to skip dask.
	Dask string
	// FloorDir is where the floor program is built; a temporary directory, removed afterwards,
	// when empty.
	FloorDir string
	// Command is the command line shown above the table.
	Command string
	// Progress receives a line per measurement as the run goes; nil discards them.
	Progress io.Writer
}

// Measurement is what one implementation measured on one workload.
type Measurement struct {
	Workload string  `json:"workload"`
	Impl     string  `json:"impl"`              // "mp", "python", "dask" or "floor"
	Variant  string  `json:"variant,omitempty"` // Python's start method
	Name     string  `json:"name"`              // e.g. "spawn_join", "spawn_join_fork"
	Unit     string  `json:"unit"`
	Value    float64 `json:"value"` // the median
	Summary
	Extra  map[string]Summary `json:"extra,omitempty"`
	Params map[string]any     `json:"params,omitempty"`
}

// Machine describes where a report was measured.
type Machine struct {
	NumCPU     int    `json:"nproc"`   // runtime.NumCPU: the CPUs this process may use
	MPNumCPU   int    `json:"mp_ncpu"` // mp.NumCPU: the same lowered to the cgroup quota
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPU        string `json:"cpu,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
	Platform   string `json:"platform"` // GOOS/GOARCH
	Go         string `json:"go"`
	Python     string `json:"python,omitempty"` // the version measured; empty when Python was not run
	PythonExe  string `json:"python_exe,omitempty"`
	Dask       string `json:"dask,omitempty"` // the dask.distributed version measured; empty when dask was not run
	DaskExe    string `json:"dask_exe,omitempty"`
	BinarySize int64  `json:"binary_size"` // this binary, which mp children run
	Dynamic    bool   `json:"dynamic"`     // whether this binary is dynamically linked (cgo)
	FloorSize  int64  `json:"floor_size"`  // the floor program
}

// Report is the outcome of Compare. Write it with WriteMarkdown, or marshal it to JSON.
type Report struct {
	Command      string        `json:"command"`
	Quick        bool          `json:"quick"`
	Machine      Machine       `json:"machine"`
	Notes        []string      `json:"notes,omitempty"` // e.g. why Python is missing
	Measurements []Measurement `json:"measurements"`
	Elapsed      float64       `json:"elapsed_s"`

	workloads []*Workload
}

// Compare measures the selected workloads with mp, in this process, against the floor and, when
// it runs, Python: workload by workload, so that the three are taken side by side. The program
// must have called mp.Init first in main (or TestMain). Python's absence or failure is a note in
// the report, not an error.
func Compare(ctx context.Context, opts Options) (*Report, error) {
	ws, err := Select(opts.Only)
	if err != nil {
		return nil, err
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	t0 := time.Now()
	rep := &Report{Command: opts.Command, Quick: opts.Quick, Machine: describeMachine(), workloads: ws}

	py, why := findPython(ctx, opts.Python)
	if py != nil {
		defer py.close()
		rep.Machine.Python, rep.Machine.PythonExe = py.version, py.exe
	} else {
		rep.Notes = append(rep.Notes, why)
		fmt.Fprintln(progress, "#", why)
	}

	var dask *python
	if needsDask(ws) {
		var why string
		if dask, why = findDask(ctx, opts.Dask); dask != nil {
			defer dask.close()
			rep.Machine.Dask, rep.Machine.DaskExe = dask.version, dask.exe
		} else {
			rep.Notes = append(rep.Notes, why)
			fmt.Fprintln(progress, "#", why)
		}
	}

	dir := opts.FloorDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "mp-bench-floor-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	fl, err := BuildFloor(ctx, dir)
	if err != nil {
		why := fmt.Sprintf("No floor: %v", err)
		rep.Notes = append(rep.Notes, why)
		fmt.Fprintln(progress, "#", why)
	} else {
		rep.Machine.FloorSize = fl.Size
	}
	if rep.Machine.Dynamic {
		rep.Notes = append(rep.Notes, "This binary is dynamically linked (cgo is on, and a package it links, such as net, uses it): "+
			"every mp child pays for the dynamic loader and libc at start, in time and memory. "+
			"`CGO_ENABLED=0 go run ./bench/compare` shows the figures of a static build.")
	}

	for _, w := range ws {
		if w.MP != nil {
			mpRes, flRes, took, err := measureGo(ctx, w, fl, w.size(opts.Quick))
			if err != nil {
				return nil, err
			}
			rep.add(progress, measurement(w, "mp", "", w.Name, mpRes), took[0])
			if w.Floor != nil && fl != nil {
				rep.add(progress, measurement(w, "floor", "", w.Name+"_floor", flRes), took[1])
			}
		} else {
			fmt.Fprintf(progress, "# %s: no mp side yet (it needs the mpnats pool)\n", w.Name)
		}
		if dask != nil && w.Dask {
			rows, err := dask.run(ctx, w.Name, opts.Quick, progress)
			if err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("dask failed on %s: %v", w.Name, err))
				fmt.Fprintf(progress, "# %s: dask failed: %v\n", w.Name, err)
			}
			for _, row := range rows {
				rep.add(progress, fromDask(w, row), 0)
			}
		}
		if py != nil && len(w.Python) > 0 {
			rows, err := py.run(ctx, w.Name, opts.Quick, progress)
			if err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("Python failed on %s: %v", w.Name, err))
				fmt.Fprintf(progress, "# %s: Python failed: %v\n", w.Name, err)
				continue
			}
			for _, row := range rows {
				rep.add(progress, fromPython(w, row), 0)
			}
		}
	}
	rep.Elapsed = time.Since(t0).Seconds()
	return rep, nil
}

// needsDask reports whether any of ws has a dask side.
func needsDask(ws []*Workload) bool {
	for _, w := range ws {
		if w.Dask {
			return true
		}
	}
	return false
}

// rounds is how many rounds measureGo splits a workload's samples into.
const rounds = 5

// measureGo takes s.N samples of w with mp and s.N with the floor (none when fl is nil). A
// Latency or Throughput workload alternates the two in rounds, so that a drift of the machine's
// speed during the run touches both alike. A Memory workload takes all its samples in one go: its
// children are alive together, and how much of their memory counts as shared (PSS, USS) depends
// on how many there are. took is the time each side took.
func measureGo(ctx context.Context, w *Workload, fl *Floor, s Size) (mpRes, flRes Result, took [2]time.Duration, err error) {
	n := s.N
	r := max(min(rounds, n), 1)
	if w.Kind == Memory {
		r = 1
	}
	for i := range r {
		k := Size{N: n/r + btoi(i < n%r), Items: s.Items}
		t := time.Now()
		res, err := w.MP(ctx, k)
		if err != nil {
			return Result{}, Result{}, took, fmt.Errorf("bench: %s with mp: %w", w.Name, err)
		}
		took[0] += time.Since(t)
		mpRes.merge(res)
		if w.Floor == nil || fl == nil {
			continue
		}
		t = time.Now()
		res, err = w.Floor(ctx, fl, k)
		if err != nil {
			return Result{}, Result{}, took, fmt.Errorf("bench: %s floor: %w", w.Name, err)
		}
		took[1] += time.Since(t)
		flRes.merge(res)
	}
	return mpRes, flRes, took, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// add adds a measurement and reports it on progress; took, when not zero, is how long it took.
func (r *Report) add(progress io.Writer, m Measurement, took time.Duration) {
	r.Measurements = append(r.Measurements, m)
	line := fmt.Sprintf("# %s %s: %d samples, median %s %s (p90 %s, min %s, max %s)",
		m.Name, m.Impl, m.N, num(m.Median), m.Unit, num(m.P90), num(m.Min), num(m.Max))
	if took > 0 {
		line += fmt.Sprintf(" in %.1fs", took.Seconds())
	}
	fmt.Fprintln(progress, line)
}

// measurement turns a Go-side result into a Measurement.
func measurement(w *Workload, impl, variant, name string, res Result) Measurement {
	m := Measurement{
		Workload: w.Name, Impl: impl, Variant: variant, Name: name, Unit: w.Unit,
		Summary: Summarize(res.Samples), Params: res.Params,
	}
	m.Value = m.Median
	for k, v := range res.Extra {
		if m.Extra == nil {
			m.Extra = make(map[string]Summary)
		}
		m.Extra[k] = Summarize(v)
	}
	return m
}

// fromPython turns a line of the Python script into a Measurement.
func fromPython(w *Workload, row pythonRow) Measurement {
	param := func(k string) float64 {
		f, _ := row.Params[k].(float64)
		return f
	}
	variant, _ := row.Params["start_method"].(string)
	return Measurement{
		Workload: w.Name, Impl: "python", Variant: variant, Name: row.Name, Unit: row.Unit, Value: row.Value,
		Summary: Summary{N: int(param("n")), Median: row.Value, P90: param("p90"), Min: param("min"), Max: param("max")},
		Params:  row.Params,
	}
}

func describeMachine() Machine {
	m := Machine{
		NumCPU:     runtime.NumCPU(),
		MPNumCPU:   mp.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
		Go:         runtime.Version(),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		if st, err := os.Stat(exe); err == nil {
			m.BinarySize = st.Size()
		}
		m.Dynamic = dynamicallyLinked(exe)
	}
	return m
}

// dynamicallyLinked reports whether the ELF binary at path asks for a program interpreter (ld.so):
// a Go binary built with cgo, which every child then pays for at start.
func dynamicallyLinked(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}
