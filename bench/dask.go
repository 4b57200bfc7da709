//go:build unix

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// daskCandidates are the interpreters -dask=auto tries, in order: the one on PATH, then the
// system's (Debian's python3-distributed installs dask for /usr/bin/python3, which a pyenv or
// venv python3 on PATH does not see).
var daskCandidates = []string{"python3", "/usr/bin/python3"}

// findDask finds an interpreter that can import dask.distributed and writes python/dask_bench.py
// where it can run it. name is an interpreter (a name on PATH or a path), "auto" to try
// daskCandidates, or "" or "none" to skip dask. It returns nil and a reason when dask is not to
// be or cannot be run. The caller must call close.
func findDask(ctx context.Context, name string) (*python, string) {
	if name == "" || name == "none" {
		return nil, "dask skipped (-dask=none): the cluster workloads show mp only"
	}
	candidates := []string{name}
	if name == "auto" {
		candidates = daskCandidates
	}
	var tried []string
	for _, c := range candidates {
		exe, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, c+": not found")
			continue
		}
		out, err := exec.CommandContext(ctx, exe, "-c",
			"import sys, distributed; print(distributed.__version__); print(sys.executable)").Output()
		if err != nil {
			tried = append(tried, exe+": no dask.distributed")
			continue
		}
		version, real, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if real = strings.TrimSpace(real); real != "" {
			exe = real
		}
		dir, err := os.MkdirTemp("", "mp-bench-dask-")
		if err != nil {
			return nil, fmt.Sprintf("dask skipped: %v", err)
		}
		script := filepath.Join(dir, "dask_bench.py")
		if err := os.WriteFile(script, []byte(DaskScript()), 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Sprintf("dask skipped: %v", err)
		}
		return &python{exe: exe, version: strings.TrimSpace(version), script: script}, ""
	}
	return nil, fmt.Sprintf("dask not found (%s): the cluster workloads show mp only; "+
		"install it with apt-get install python3-distributed (Debian), or name an interpreter that has it with -dask",
		strings.Join(tried, "; "))
}

// fromDask turns a line of the dask script into a Measurement.
func fromDask(w *Workload, row pythonRow) Measurement {
	m := fromPython(w, row)
	m.Impl, m.Variant = "dask", ""
	return m
}
