//go:build unix

package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pythonRow is one JSON line of python/mp_bench.py.
type pythonRow struct {
	Name   string         `json:"name"`
	Unit   string         `json:"unit"`
	Value  float64        `json:"value"`
	Params map[string]any `json:"params"`
}

// python runs python/mp_bench.py with one interpreter.
type python struct {
	exe     string // the interpreter's path
	version string // e.g. "3.11.7"
	script  string // the script, written to a temporary directory
}

// findPython looks the interpreter up and writes the script where it can run it. It returns nil
// and a reason when Python is not to be or cannot be run. The caller must call close.
func findPython(ctx context.Context, name string) (*python, string) {
	if name == "" || name == "none" {
		return nil, "Python skipped (-python=none): showing mp and the floor only"
	}
	exe, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Sprintf("Python not found (%s is not on PATH): showing mp and the floor only", name)
	}
	// Ask for the interpreter's own path too: exe may be a wrapper (a pyenv shim, say) whose
	// start-up is no business of the benchmark.
	out, err := exec.CommandContext(ctx, exe, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable)").Output()
	if err != nil {
		return nil, fmt.Sprintf("Python %s does not run (%v): showing mp and the floor only", exe, err)
	}
	version, real, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if real = strings.TrimSpace(real); real != "" {
		exe = real
	}
	dir, err := os.MkdirTemp("", "mp-bench-python-")
	if err != nil {
		return nil, fmt.Sprintf("Python skipped: %v", err)
	}
	script := filepath.Join(dir, "mp_bench.py")
	if err := os.WriteFile(script, []byte(PythonScript()), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Sprintf("Python skipped: %v", err)
	}
	return &python{exe: exe, version: strings.TrimSpace(version), script: script}, ""
}

func (py *python) close() { os.RemoveAll(filepath.Dir(py.script)) }

// run runs the script on one workload and returns its rows. The script's progress goes to
// stderr.
func (py *python) run(ctx context.Context, workload string, quick bool, stderr io.Writer) ([]pythonRow, error) {
	args := []string{py.script, "--only", workload}
	if quick {
		args = append(args, "--quick")
	}
	cmd := exec.CommandContext(ctx, py.exe, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench: %s %s: %w", py.exe, strings.Join(args, " "), err)
	}
	return parsePythonRows(&out)
}

// parsePythonRows parses the script's standard output: one JSON object a line.
func parsePythonRows(r io.Reader) ([]pythonRow, error) {
	var rows []pythonRow
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var row pythonRow
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			return nil, fmt.Errorf("bench: bad line from the Python script: %v: %s", err, line)
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}
