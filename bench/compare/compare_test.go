//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp/bench"
	"github.com/mp-go/mp/mptest"
)

// TestMain lets the test binary act as the mp children the harness starts.
func TestMain(m *testing.M) { mptest.Main(m) }

// TestQuickGoSide runs the command in quick mode without Python and checks that the table has a
// row for each workload with a positive mp figure, and a positive floor figure where it has one.
func TestQuickGoSide(t *testing.T) {
	// Spare the children of a -race test binary the race runtime's one-second sleep at exit.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	// Every workload, a few samples each, under the race detector: about 40 s on an idle 2-core
	// machine, over 2 minutes on one running other builds; the bound leaves room for that.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"-quick", "-python=none", "-dask=none"}, &stdout, &stderr); code != 0 {
		t.Fatalf("compare -quick -python=none -dask=none exited %d\nstderr:\n%s", code, &stderr)
	}
	out := stdout.String()
	t.Logf("took %v\n%s", time.Since(t0).Round(time.Millisecond), out)
	if !strings.Contains(out, "Python skipped") {
		t.Errorf("output does not say that Python was skipped")
	}
	for _, w := range bench.All() {
		row := tableRow(out, w.Name)
		if row == nil {
			t.Errorf("no table row for %s", w.Name)
			continue
		}
		if w.MP == nil {
			// A cluster workload without its mp side yet: | workload | mp (Go) | dask | mp vs dask |
			if row[1] != "–" || row[2] != "–" {
				t.Errorf("%s: mp and dask columns are %q, %q without either, want –", w.Name, row[1], row[2])
			}
			continue
		}
		// | workload | mp (Go) | Python | floor | mp vs Python | mp vs floor |
		cols := []int{1}
		if w.Floor != nil {
			cols = append(cols, 3)
		} else if row[3] != "–" {
			t.Errorf("%s: floor column is %q for a workload without a floor, want –", w.Name, row[3])
		}
		for _, col := range cols {
			if v := leadingNumber(row[col]); !(v > 0) {
				t.Errorf("%s: column %d is %q, want a positive number", w.Name, col, row[col])
			}
		}
		if row[2] != "–" {
			t.Errorf("%s: Python column is %q without Python, want –", w.Name, row[2])
		}
	}
}

func TestBadFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-only", "nope", "-python=none"}, &stdout, &stderr); code == 0 {
		t.Errorf("-only nope exited 0")
	}
	if code := run(context.Background(), []string{"extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("a stray argument exited %d, want 2", code)
	}
}

// tableRow returns the cells of the row of workload name in the main table (6 columns) or the
// cluster table (4 columns).
func tableRow(out, name string) []string {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if (len(cells) == 6 || len(cells) == 4) && cells[0] == name {
			return cells
		}
	}
	return nil
}

// leadingNumber parses the figure a cell starts with, k and M suffixes included.
func leadingNumber(s string) float64 {
	f, _, _ := strings.Cut(s, " ")
	mult := 1.0
	switch {
	case strings.HasSuffix(f, "k"):
		f, mult = strings.TrimSuffix(f, "k"), 1e3
	case strings.HasSuffix(f, "M"):
		f, mult = strings.TrimSuffix(f, "M"), 1e6
	}
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return 0
	}
	return v * mult
}
