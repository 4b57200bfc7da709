package examples_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pidList parses a list of pids as fmt prints a []int: "[12 34]".
func pidList(t *testing.T, s string) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(strings.Trim(s, "[]")) {
		pids = append(pids, atoi(t, f))
	}
	return pids
}

// lineIndex returns the index of the first line matching pattern, or -1.
func (r *result) lineIndex(pattern string) int {
	re := regexp.MustCompile(pattern)
	return slices.IndexFunc(r.lines, re.MatchString)
}

func testPoolApply(t *testing.T) {
	r := run(t, "pool_apply", "-sleep", "50ms")
	m := r.find(`^main process pid=(\d+); pool of 5 workers: (\[.*\])$`)
	if atoi(t, m[1]) != r.pid {
		t.Errorf("the main process says its pid is %s; it is %d", m[1], r.pid)
	}
	workers := pidList(t, m[2])
	if len(workers) != 5 || slices.Contains(workers, r.pid) {
		t.Errorf("pool workers %v: want 5 pids, none the main process's %d", workers, r.pid)
	}

	// apply is synchronous: each task's line, then its result, in the order of submission.
	s := r.section("apply: synchronous")
	for i := range 10 {
		w := s.find(fmt.Sprintf(`^in the process pid=(\d+) ppid=(\d+): foo\(%d\)$`, i))
		checkChild(t, fmt.Sprintf("foo(%d)", i), atoi(t, w[1]), atoi(t, w[2]), r.pid)
		if !slices.Contains(workers, atoi(t, w[1])) {
			t.Errorf("foo(%d) ran in pid %s, not one of the pool's workers %v", i, w[1], workers)
		}
		if len(s.lines) < 2*i+2 || s.lines[2*i] != w[0] || s.lines[2*i+1] != fmt.Sprintf("apply(foo, %d) returned %d", i, 100+i) {
			t.Errorf("apply section, lines %d-%d: want foo(%d) running, then its result %d, in order:\n\t%s",
				2*i, 2*i+1, i, 100+i, strings.Join(s.lines, "\n\t"))
			break
		}
	}
	serial := seconds(t, r.find(`^10 applies took ([0-9.]+)s`)[1])

	s = r.section("Submit (apply_async)")
	var got []string
	for _, m := range s.findAll(`^Submit\(foo, (\d+)\) returned (\d+)$`) {
		got = append(got, m[1]+"->"+m[2])
		if ran := s.lineIndex(fmt.Sprintf(`^in the process pid=\d+ ppid=%d: foo\(%s\)$`, r.pid, m[1])); ran < 0 || ran > s.index(m[0]) {
			t.Errorf("foo(%s) returned before it ran (or never ran in a worker)", m[1])
		}
	}
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("%d->%d", i, 100+i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Submit results %v, want %v", got, want)
	}
	async := seconds(t, r.find(`^10 submits took ([0-9.]+)s`)[1])
	if serial < 0.5 {
		t.Errorf("10 applies of 50ms took %.3fs: they did not run one after the other", serial)
	}
	if async > serial/2 {
		t.Errorf("10 submits took %.3fs, 10 applies %.3fs: want the submits, 5 at a time, well under half", async, serial)
	}
	r.find(`^pool shut down; apply was [0-9.]+x as slow as Submit$`)
}

func testPoolMap(t *testing.T) {
	r := runWithStderr(t, "pool_map", "-unit", "5ms")
	workers := pidList(t, r.find(`^main process pid=\d+; pool of 5 workers: (\[.*\])$`)[1])
	seen := map[int]bool{}
	for _, m := range r.findAll(`^num:(.+)  \((\d+)\*\*(\d+), pid=(\d+)\)$`) {
		num := atoi(t, m[2])
		seen[num] = true
		if !slices.Contains(workers, atoi(t, m[4])) {
			t.Errorf("wahaha(%d) ran in pid %s, not one of the pool's workers %v", num, m[4], workers)
		}
	}
	if len(seen) != 101 {
		t.Errorf("the workers printed num**num for %d distinct nums, want 101 (0..100)", len(seen))
	}
	r.find(`^map returned 101 results, each num\*\*num, in the order of the input: true$`)
	for _, want := range []string{"results[0] = 1", "results[1] = 1", "results[2] = 4", "results[3] = 27",
		"results[10] = 10000000000", "results[100] = 10000000…00000000 (201 digits)"} {
		r.find(`^    ` + regexp.QuoteMeta(want) + `$`)
	}
	total := 0
	for _, m := range regexp.MustCompile(`(\d+):(\d+)`).FindAllStringSubmatch(r.find(`^tasks per worker: map\[(.*)\]$`)[1], -1) {
		if !slices.Contains(workers, atoi(t, m[1])) {
			t.Errorf("tasks counted for pid %s, not a worker of the pool %v", m[1], workers)
		}
		total += atoi(t, m[2])
	}
	if total != 101 {
		t.Errorf("the workers ran %d tasks, want 101", total)
	}
	m := r.find(`^101 tasks slept (\d+) units in all; map took ([0-9.]+) units on 5 workers`)
	if slept, took := atoi(t, m[1]), seconds(t, m[2]); slept < 101 || slept > 303 || took > float64(slept)/2 {
		t.Errorf("tasks slept %d units, map took %.1f: want 101..303 units of sleep, and 5 workers to take well under half", slept, took)
	}
	// The progress bar, on standard error: a pipe, so plain lines, the last one complete.
	if len(r.stderr) == 0 || !regexp.MustCompile(`^wahaha \[#{20}\] 100% 101/101  \S+/s  in \S+$`).MatchString(r.stderr[len(r.stderr)-1]) {
		t.Errorf("standard error does not end with a complete progress bar: %q", r.stderr)
	}
	for _, l := range r.stderr {
		if strings.Contains(l, "\r") {
			t.Errorf("a progress bar written to a pipe drew with carriage returns: %q", l)
		}
	}
}

func testPoolAsync(t *testing.T) {
	r := run(t, "pool_async", "-n", "20")
	s := r.section("apply_async and get")
	s.find(`^main: submitted 20 tasks: 20 futures, \d+ done so far$`)
	printed := map[int]bool{}
	for _, m := range s.findAll(`^(\d+)$`) {
		printed[atoi(t, m[1])] = true
	}
	var got []string
	for _, m := range s.findAll(`^get: "(\**)"$`) {
		got = append(got, m[1])
	}
	if len(printed) != 20 || len(got) != 20 {
		t.Fatalf("the workers printed %d distinct numbers and get returned %d values, want 20 and 20", len(printed), len(got))
	}
	for i, g := range got {
		if g != strings.Repeat("*", i) {
			t.Errorf("get #%d returned %q, want %d stars", i, g, i)
		}
	}
	s.find(`^main: 20 results in [0-9.]+s$`)

	s = r.section("callback, in the main process")
	if main := s.findInt(`^main process: pid=(\d+)$`); main != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", main, r.pid)
	}
	var workers []int
	for _, num := range []string{"1", "5", "-2"} {
		m := s.find(`^child process: pid=(\d+) ppid=(\d+) computing ` + num + `\*\*` + num + `$`)
		checkChild(t, "wahaha("+num+")", atoi(t, m[1]), atoi(t, m[2]), r.pid)
		workers = append(workers, atoi(t, m[1]))
	}
	callbacks := s.findAll(`^callback: pid=(\d+) got (.*)$`)
	if len(callbacks) != 3 {
		t.Fatalf("%d callbacks ran, want 3", len(callbacks))
	}
	var values []string
	for _, c := range callbacks {
		pid := atoi(t, c[1])
		if pid != r.pid || slices.Contains(workers, pid) {
			t.Errorf("a callback ran in pid %d: want the main process %d, not a worker %v", pid, r.pid, workers)
		}
		values = append(values, c[2])
	}
	slices.Sort(values)
	want := []string{"1**1 = 1", "5**5 = 3125",
		`an error: mp: process PoolWorker-` + "X" + `: wahaha(-2): negative exponent (errors.Is(err, ErrNegative) = true)`}
	values[2] = regexp.MustCompile(`PoolWorker-\d+ \(pid \d+\)`).ReplaceAllString(values[2], "PoolWorker-X")
	if !slices.Equal(values, want) {
		t.Errorf("callbacks got\n\t%s\nwant\n\t%s", strings.Join(values, "\n\t"), strings.Join(want, "\n\t"))
	}
	// Shutdown (close and join) returns after the callbacks ran.
	if last := s.lines[len(s.lines)-1]; last != "main: pool shut down" {
		t.Errorf("the last line is %q: a callback ran after Shutdown returned", last)
	}
}

func testPoolCallback(t *testing.T) {
	r := run(t, "pool_callback", "-sleep", "100ms")
	if pid := r.findInt(`^main process pid=(\d+)$`); pid != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
	}
	end := r.index("end")
	if r.lines[end] != "end" || end != 1 {
		t.Errorf("'end' is line %d (%q), want line 1: right after submitting, before any task is done", end, r.lines[end])
	}
	workers := map[int]bool{}
	for i := range 10 {
		w := r.find(fmt.Sprintf(`^in the process pid=(\d+) ppid=(\d+) \(foo\(%d\)\)$`, i))
		checkChild(t, fmt.Sprintf("foo(%d)", i), atoi(t, w[1]), atoi(t, w[2]), r.pid)
		workers[atoi(t, w[1])] = true
		cb := r.find(fmt.Sprintf(`^-->exec done: %d pid=(\d+)$`, 100+i))
		if pid := atoi(t, cb[1]); pid != r.pid || workers[pid] {
			t.Errorf("the callback of foo(%d) ran in pid %d, want the main process %d", i, pid, r.pid)
		}
		if r.index(w[0]) > r.index(cb[0]) {
			t.Errorf("the callback of foo(%d) ran before foo(%d) returned", i, i)
		}
	}
	if n := len(r.findAll(`^-->exec done:`)); n != 10 {
		t.Errorf("%d callbacks, want 10", n)
	}
	if len(workers) > 3 {
		t.Errorf("tasks ran in %d processes, want at most Pool(3)'s 3: %v", len(workers), workers)
	}
	m := r.find(`^10 tasks of 100ms on 3 workers took ([0-9.]+)s: ([0-9.]+) sleeps \(4 rounds of 3; one after the other: 10\)$`)
	if sleeps := seconds(t, m[2]); sleeps < 3.9 || sleeps > 7.5 {
		t.Errorf("10 tasks on 3 workers took %.1f sleeps: want about 4 rounds, well under 10", sleeps)
	}
	if !strings.HasPrefix(r.lines[len(r.lines)-1], "10 tasks of") {
		t.Error("a callback ran after Shutdown (close and join) returned")
	}
}

func testExecutor(t *testing.T) {
	r := run(t, "executor", "-unit", "100ms")
	s := r.section("submit, then shutdown(wait=True)")
	s.find(`^main: submitted 8 tasks in \S+; done so far: 0$`)
	ranIn := map[int]int{}
	maxUnits := 0
	for _, m := range s.findAll(`^    task (\d+): pid=(\d+), sleeping ([123]) units$`) {
		ranIn[atoi(t, m[1])] = atoi(t, m[2])
		maxUnits = max(maxUnits, atoi(t, m[3]))
	}
	if len(ranIn) != 8 {
		t.Fatalf("%d tasks ran, want 8", len(ranIn))
	}
	m := s.find(`^main: shutdown returned after ([0-9.]+) units; done: 8 of 8$`)
	if units := seconds(t, m[1]); units < float64(maxUnits)-0.1 || units > 12 {
		t.Errorf("shutdown(wait=True) returned after %.1f units; the longest task sleeps %d", units, maxUnits)
	}
	for i := range 8 {
		pid := s.findInt(fmt.Sprintf(`^main: task %d returned %d from pid=(\d+)$`, i, i*i))
		if pid != ranIn[i] || pid == r.pid {
			t.Errorf("task %d: the result says pid %d, the task printed pid %d (main %d)", i, pid, ranIn[i], r.pid)
		}
	}
	if i := s.lineIndex(`^main: task 0 returned`); i < s.lineIndex(`^main: shutdown returned`) {
		t.Error("results were read before shutdown(wait=True) returned")
	}

	s = r.section("as_completed")
	var order []string
	for _, m := range s.findAll(`^main: task (\d) finished$`) {
		order = append(order, m[1])
	}
	if !slices.Equal(order, []string{"1", "2", "0"}) {
		t.Errorf("as_completed yielded tasks %v, want 1, 2, 0: tasks of 1, 2 and 3 units", order)
	}

	s = r.section("cancel_futures=True")
	ran, cancelled := 0, 0
	for i := range 5 {
		m := s.find(fmt.Sprintf(`^main: task %d (ran|was cancelled before it started)$`, i))
		started := s.lineIndex(fmt.Sprintf(`^    task %d: pid=`, i)) >= 0
		if m[1] == "ran" {
			if cancelled > 0 {
				t.Errorf("task %d ran after an earlier one was cancelled", i)
			}
			ran++
			continue
		}
		cancelled++
		if started {
			t.Errorf("task %d started, yet was reported cancelled before it started", i)
		}
	}
	if ran == 0 || cancelled == 0 {
		t.Errorf("%d tasks ran and %d were cancelled: want the running one to finish and the queued ones cancelled", ran, cancelled)
	}
}

func testExecutorFetch(t *testing.T) {
	r := run(t, "executor_fetch", "-n", "5", "-timeout", "500ms")
	r.find(`^main process pid=\d+; local server http://127\.0\.0\.1:\d+; 8 pages, /www.google.com/ hangs$`)
	paths := []string{"/www.baidu.com", "/dig.chouti.com/"}
	for i := range 5 {
		paths = append(paths, "/page/"+strconv.Itoa(i+1))
	}
	workers := map[int]bool{}
	for _, path := range paths {
		q := regexp.QuoteMeta(path)
		w := r.find(`^worker pid=(\d+): ` + q + ` -> 200, (\d+) bytes, "` + regexp.QuoteMeta(strings.Trim(path, "/")) + ` \(a local copy\)"$`)
		m := r.find(`^main: ` + q + `: status 200, (\d+) bytes, sha256 ([0-9a-f]{16}), from pid=(\d+) after (\d+)ms; the server sent (\d+) ([0-9a-f]{16}): match=(true|false)$`)
		if m[1] != w[2] || m[3] != w[1] {
			t.Errorf("%s: the worker printed pid %s and %s bytes, the main process got pid %s and %s bytes", path, w[1], w[2], m[3], m[1])
		}
		if m[1] != m[5] || m[2] != m[6] || m[7] != "true" {
			t.Errorf("%s: fetched %s bytes sha256 %s, the server sent %s bytes sha256 %s", path, m[1], m[2], m[5], m[6])
		}
		if size := atoi(t, m[1]); size < 1000 || size >= 9000 {
			t.Errorf("%s: %d bytes, want 1000..8999", path, size)
		}
		if ms := atoi(t, m[4]); ms >= 500 {
			t.Errorf("%s came back after %dms: it waited for the slow page", path, ms)
		}
		pid := atoi(t, w[1])
		if pid == r.pid {
			t.Errorf("%s was fetched in the main process", path)
		}
		workers[pid] = true
	}
	if len(workers) < 2 {
		t.Errorf("all the pages were fetched by %d process(es): want several workers", len(workers))
	}
	// Either side may notice the deadline first: the pool's timer (mp: task … on PoolWorker-N) or
	// the task's own ctx in the worker (mp: process PoolWorker-N (pid …): Get …); both match
	// context.DeadlineExceeded.
	ms := r.findInt(`^main: /www.google.com/ failed after (\d+)ms: mp: (task executor_fetch.fetch_request on PoolWorker-\d+|process PoolWorker-\d+ \(pid \d+\): Get "[^"]+"): context deadline exceeded \(deadline exceeded: true\)$`)
	if ms < 500 || ms > 2500 {
		t.Errorf("the slow page failed after %dms, want soon after its 500ms timeout", ms)
	}
	r.find(`^server: /www.google.com/: the client gave up after waiting$`)
	r.find(`^main: 7 pages fetched, 1 failed; every fetched page was back after \d+ms, without waiting for the slow one$`)
	if n := len(r.findAll(`^worker pid=\d+: `)); n != 7 {
		t.Errorf("%d pages printed by workers, want 7", n)
	}
}
