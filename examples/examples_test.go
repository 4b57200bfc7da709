// Package examples_test builds every example program once and runs it, checking that its output
// shows the behaviour the example teaches: real pids and parent pids, the order of lines where the
// lesson is about order, timings where it is about parallelism, and no process left behind.
package examples_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// binDir holds the example binaries, built once by build.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mp-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	if err := becomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(code)
	}))
}

// checks maps every example to the test of its output.
var checks = map[string]func(t *testing.T){
	"hello":     testHello,
	"subclass":  testSubclass,
	"children":  testChildren,
	"join":      testJoin,
	"alive":     testAlive,
	"daemon":    testDaemon,
	"isolation": testIsolation,
	"sleepers":  testSleepers,
	"pids":      testPids,
	"zombies":   testZombies,
	"demo":      testDemo,

	"pool_apply":     testPoolApply,
	"pool_map":       testPoolMap,
	"pool_async":     testPoolAsync,
	"pool_callback":  testPoolCallback,
	"executor":       testExecutor,
	"executor_fetch": testExecutorFetch,

	"tcp_echo":          testTCPEcho,
	"tcp_prefork":       testTCPPrefork,
	"queue_basics":      testQueueBasics,
	"producer_consumer": testProducerConsumer,
	"joinable_queue":    testJoinableQueue,
	"pipe_eof":          testPipeEOF,
	"pipe_duplex":       testPipeDuplex,
	"queue_many":        testQueueMany,

	"tickets":         testTickets,
	"lock_pids":       testLockPids,
	"shared_counter":  testSharedCounter,
	"sync_primitives": testSyncPrimitives,
	"shared_memory":   testSharedMemory,
	"robust_mutex":    testRobustMutex,

	"dashboard": testDashboard,
}

// exampleNames lists the directories that hold an example program.
func exampleNames(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(e.Name(), "main.go")); e.IsDir() && err == nil {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestExamples(t *testing.T) {
	names := exampleNames(t)
	for _, name := range names {
		if checks[name] == nil {
			t.Errorf("example %s has no test: add it to checks", name)
		}
	}
	for name := range checks {
		if !slices.Contains(names, name) {
			t.Errorf("checks has a test for %s, which is not an example directory", name)
		}
	}
	if runtime.GOOS == "windows" {
		t.Skip("mp cannot start child processes on windows")
	}
	build(t, names)
	// One at a time: several of them measure time, and the check for leftover processes must
	// know whose they are.
	for _, name := range names {
		if check := checks[name]; check != nil {
			t.Run(name, check)
		}
	}
}

// build builds every example into binDir, with one go command: it compiles them in parallel.
func build(t *testing.T, names []string) {
	t.Helper()
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./"+n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// result is the output of one run of an example.
type result struct {
	t      *testing.T
	lines  []string
	pid    int      // the example's own pid
	stderr []string // lines of standard error, for examples that draw a progress bar there
}

// run runs an example and fails the test unless it exits with status 0, writes nothing on
// standard error and leaves no process behind.
func run(t *testing.T, name string, args ...string) *result {
	t.Helper()
	return runExample(t, name, false, args...)
}

// runWithStderr is run for an example that writes on standard error (a progress bar): its lines
// are in the result's stderr.
func runWithStderr(t *testing.T, name string, args ...string) *result {
	t.Helper()
	return runExample(t, name, true, args...)
}

func runExample(t *testing.T, name string, stderrOK bool, args ...string) *result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second // a leftover child holding stdout open must not hang the test
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	t.Logf("%s %s: %v, output:\n%s", name, strings.Join(args, " "), elapsed.Round(time.Millisecond), stdout.String())
	if err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", name, err, stderr.String())
	}
	if stderr.Len() > 0 && !stderrOK {
		t.Errorf("%s wrote to standard error:\n%s", name, stderr.String())
	} else if stderr.Len() > 0 {
		t.Logf("%s: standard error:\n%s", name, stderr.String())
	}
	if left := reapOrphans(3 * time.Second); len(left) > 0 {
		t.Errorf("%s left processes running after it exited: %v", name, left)
	}
	return &result{t: t, lines: splitLines(stdout.String()), pid: cmd.Process.Pid, stderr: splitLines(stderr.String())}
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// find returns the submatches of the first line matching pattern, and fails without one.
func (r *result) find(pattern string) []string {
	r.t.Helper()
	m := r.findAll(pattern)
	if len(m) == 0 {
		r.t.Fatalf("no line matches %q", pattern)
	}
	return m[0]
}

// findAll returns the submatches of every line matching pattern.
func (r *result) findAll(pattern string) [][]string {
	re := regexp.MustCompile(pattern)
	var out [][]string
	for _, l := range r.lines {
		if m := re.FindStringSubmatch(l); m != nil {
			out = append(out, m)
		}
	}
	return out
}

// findInt is find for a pattern with one integer submatch.
func (r *result) findInt(pattern string) int {
	r.t.Helper()
	return atoi(r.t, r.find(pattern)[1])
}

// index returns the index of the first line containing s, and fails without one.
func (r *result) index(s string) int {
	r.t.Helper()
	for i, l := range r.lines {
		if strings.Contains(l, s) {
			return i
		}
	}
	r.t.Fatalf("no line contains %q", s)
	return -1
}

// section returns the lines after the "== ... ==" header that contains header, up to the next.
func (r *result) section(header string) *result {
	r.t.Helper()
	i := slices.IndexFunc(r.lines, func(l string) bool {
		return strings.HasPrefix(l, "== ") && strings.Contains(l, header)
	})
	if i < 0 {
		r.t.Fatalf("no section %q", header)
	}
	lines := r.lines[i+1:]
	if j := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "== ") }); j >= 0 {
		lines = lines[:j]
	}
	return &result{t: r.t, lines: lines, pid: r.pid}
}

// part returns the lines of a part of the demo: from the line after the one that starts with
// label, such as "(b)", up to the next part's.
func (r *result) part(label string) *result {
	r.t.Helper()
	i := slices.IndexFunc(r.lines, func(l string) bool { return strings.HasPrefix(l, label+" ") })
	if i < 0 {
		r.t.Fatalf("no part %s", label)
	}
	lines := r.lines[i+1:]
	next := regexp.MustCompile(`^\([a-z]\) `)
	if j := slices.IndexFunc(lines, next.MatchString); j >= 0 {
		lines = lines[:j]
	}
	return &result{t: r.t, lines: lines, pid: r.pid}
}

// head returns the first n lines, or fewer.
func (r *result) head(n int) *result {
	lines := r.lines[:min(n, len(r.lines))]
	return &result{t: r.t, lines: lines, pid: r.pid}
}

// want fails unless the lines are exactly want.
func (r *result) want(want ...string) {
	r.t.Helper()
	if !slices.Equal(r.lines, want) {
		r.t.Errorf("got lines\n\t%s\nwant\n\t%s", strings.Join(r.lines, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func seconds(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkChild checks the pid and parent pid a child reported.
func checkChild(t *testing.T, what string, pid, ppid, parent int) {
	t.Helper()
	if pid == parent || pid <= 0 {
		t.Errorf("%s: pid=%d, want a pid other than the parent's %d", what, pid, parent)
	}
	if ppid != parent {
		t.Errorf("%s: ppid=%d, want the parent's pid %d", what, ppid, parent)
	}
}

func testHello(t *testing.T) {
	r := run(t, "hello", "-unit", "200ms")
	parent := r.find(`^parent: I am the main process; my pid=(\d+) ppid=(\d+)$`)
	if pid := atoi(t, parent[1]); pid != r.pid {
		t.Errorf("the parent says its pid is %d; it is %d", pid, r.pid)
	}
	if ppid := atoi(t, parent[2]); ppid != os.Getpid() {
		t.Errorf("the parent says its ppid is %d; it is %d (this test)", ppid, os.Getpid())
	}
	child := r.find(`^child: func\(1\) ran here; my pid=(\d+) ppid=(\d+)$`)
	checkChild(t, "child", atoi(t, child[1]), atoi(t, child[2]), r.pid)
	if started := r.findInt(`^parent: started Process-1 \(pid (\d+)\)`); started != atoi(t, child[1]) {
		t.Errorf("p.Pid()=%d, but the child's own pid is %s", started, child[1])
	}
	// The child sleeps one unit, the parent two: the child prints first.
	if r.index("child: func(1)") > r.index("parent: I am the main process") {
		t.Error("the parent printed before the child, though it slept longer")
	}
}

func testSubclass(t *testing.T) {
	r := run(t, "subclass")
	if pid := r.findInt(`^parent: name=MainProcess pid=(\d+) `); pid != r.pid {
		t.Errorf("parent pid=%d, want %d", pid, r.pid)
	}
	type call struct{ name, pid, ppid string }
	calls := map[string][]call{}
	for _, m := range r.findAll(`^(\S+)\.Run in name=(\S+) pid=(\d+) ppid=(\d+)$`) {
		calls[m[1]] = append(calls[m[1]], call{m[2], m[3], m[4]})
	}
	// MyProcess(0) ran twice: started as Process-1, and called directly in the parent.
	var inChild, direct bool
	for _, c := range calls["MyProcess(0)"] {
		switch c.name {
		case "Process-1":
			inChild = true
			checkChild(t, "MyProcess(0) in Process-1", atoi(t, c.pid), atoi(t, c.ppid), r.pid)
		case "MainProcess":
			direct = true
			if atoi(t, c.pid) != r.pid {
				t.Errorf("a direct call of Run ran in pid %s, want the parent's %d", c.pid, r.pid)
			}
		}
	}
	if !inChild || !direct || len(calls["MyProcess(0)"]) != 2 {
		t.Errorf("MyProcess(0).Run calls = %v, want one in Process-1 and one in MainProcess", calls["MyProcess(0)"])
	}
	pids := map[string]bool{}
	for i, want := range map[int]string{1: "Process-2", 2: "Process-3", 3: "Process-4", 0: "Nick"} {
		who := fmt.Sprintf("MyProcess(%d)", i)
		if i == 0 {
			who = "Task(Nick)"
		}
		cs := calls[who]
		if len(cs) != 1 || cs[0].name != want {
			t.Errorf("%s.Run calls = %v, want one in process %s", who, cs, want)
			continue
		}
		checkChild(t, who, atoi(t, cs[0].pid), atoi(t, cs[0].ppid), r.pid)
		pids[cs[0].pid] = true
	}
	if len(pids) != 4 {
		t.Errorf("the four children did not have four different pids: %v", pids)
	}
	r.find(`^parent: <Process name="Nick" pid=\d+ stopped exitcode=0>$`)
}

func testChildren(t *testing.T) {
	r := run(t, "children", "-unit", "100ms")
	loop := r.section("three children")
	seen := map[string]bool{}
	for _, m := range loop.findAll(`^this is child (\d): pid=(\d+) ppid=(\d+)$`) {
		seen[m[1]] = true
		checkChild(t, "child "+m[1], atoi(t, m[2]), atoi(t, m[3]), r.pid)
	}
	if len(seen) != 3 || len(loop.findAll(`^this is the parent \d$`)) != 3 {
		t.Errorf("want children 0, 1, 2 and three parent lines; got children %v", seen)
	}

	places := []string{"Henan", "Shandong", "Liaoning", "Hunan"}
	all := r.section("start all, then join all")
	var got []string
	for _, m := range all.findAll(`^child: I am from (\w+) \(pid=(\d+) ppid=(\d+)\)$`) {
		got = append(got, m[1])
		checkChild(t, m[1], atoi(t, m[2]), atoi(t, m[3]), r.pid)
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(places)); !slices.Equal(got, want) {
		t.Errorf("children from %v, want %v", got, want)
	}
	// All were joined before the parent went on.
	if i := all.index("parent: I choose"); i != len(places)+1 {
		t.Errorf("the parent chose at line %d of the section, want after the %d children", i, len(places))
	}
	together := seconds(t, all.find(`in ([0-9.]+)s$`)[1])

	inLoop := r.section("join inside the loop")
	got = nil
	for _, m := range inLoop.findAll(`^child: I am from (\w+) `) {
		got = append(got, m[1])
	}
	if !slices.Equal(got, places) {
		t.Errorf("joining inside the loop ran the children in the order %v, want %v", got, places)
	}
	oneByOne := seconds(t, inLoop.find(`in ([0-9.]+)s$`)[1])
	if together >= 0.75*oneByOne {
		t.Errorf("start all then join all took %.3fs, join inside the loop %.3fs: want the first well under the second", together, oneByOne)
	}
}

func testJoin(t *testing.T) {
	r := run(t, "join", "-unit", "50ms")
	async := r.section("without Wait")
	if n, m := len(async.findAll(`the son is here`)), len(async.findAll(`dad is here`)); n != 10 || m != 5 {
		t.Errorf("without Wait: %d son lines and %d dad lines, want 10 and 5", n, m)
	}
	var want []string
	for i := 1; i <= 10; i++ {
		want = append(want, fmt.Sprintf("[sync] the son is here (%d/10)", i))
	}
	for i := 1; i <= 5; i++ {
		want = append(want, fmt.Sprintf("[sync] dad is here (%d/5)", i))
	}
	r.section("with Wait").want(want...)
	r.section("Wait instead of time.sleep").want("child: start", "child: end", "main process")
}

func testAlive(t *testing.T) {
	r := run(t, "alive", "-unit", "100ms")
	s := r.section("Alive and Name")
	s.find(`^before Start: Process-1 Alive\(\)=false Pid\(\)=0$`)
	s.find(`^after Start: Process-1 Alive\(\)=true$`)
	s.find(`^after Start: rocky Alive\(\)=true$`)
	s.find(`^child: process start: name=rocky pid=\d+$`)
	s.find(`^after Wait: Process-1 Alive\(\)=false ExitCode\(\)=0$`)
	s.find(`^after Wait: rocky Alive\(\)=false ExitCode\(\)=0$`)

	s = r.section("seen from the parent")
	own := s.findInt(`^child: this is the child; my name=liangxue pid=(\d+)$`)
	if seen := s.findInt(`^parent: the child's Name\(\)=liangxue Pid\(\)=(\d+) Daemon\(\)=false$`); seen != own || own == r.pid {
		t.Errorf("the parent sees pid %d, the child says %d (parent %d)", seen, own, r.pid)
	}

	s = r.section("Terminate")
	s.find(`^right after Terminate: Alive\(\)=(true|false) `) // either: the reaper is asynchronous
	s.find(`^Wait returned: .* was killed by signal: terminated$`)
	s.find(`^after Wait: Alive\(\)=false ExitCode\(\)=-15$`)
	if n := len(r.findAll(`process end`)); n != 2 {
		t.Errorf("%d children printed their end, want 2: the terminated one must not", n)
	}
}

func testDaemon(t *testing.T) {
	r := run(t, "daemon", "-unit", "200ms")
	s := r.section("a short daemon")
	s.want("daemon start (daemon=true), sleeping 20ms", "daemon end", "main: this is the main process")

	s = r.section("may not start children")
	s.find(`^daemon Process-2: Start of a child returned: mp: a daemon process may not start children`)
	s.find(`^main: errors.Is\(err, mp.ErrDaemonChildren\) = true$`)

	s = r.section("ends with the main process")
	s.find(`^daemon start \(daemon=true\)`)
	s.find(`^child start \(daemon=false\)`)
	if s.index("main: the main process's code is done") > s.index("child end") {
		t.Error("the child ended before the main process's code did")
	}
	if len(s.findAll(`^daemon end`)) != 0 {
		t.Error("the daemon was not terminated when the main process's code ended")
	}
	if s.index("child end") > s.index("main: after Cleanup") {
		t.Error("Cleanup returned before the non-daemon child ended")
	}
	s.find(`^main: after Cleanup: daemon ExitCode\(\)=-15, child ExitCode\(\)=0$`)
}

func testIsolation(t *testing.T) {
	r := run(t, "isolation")
	r.find(`^parent \(pid=\d+\): before the children counter=1000 places=\[Beijing\]$`)
	for _, place := range []string{"Henan", "Shandong", "Liaoning", "Hunan", "Hubei"} {
		pid := r.findInt(`^child ` + place + ` \(pid=(\d+)\): at start counter=100 places=\[\]$`)
		if pid == r.pid {
			t.Errorf("child %s ran in the parent's process", place)
		}
		r.find(`^child ` + place + ` \(pid=\d+\): changed to counter=99 places=\[` + place + `\]$`)
	}
	after := r.index("after the children counter=1000 places=[Beijing]")
	for _, place := range []string{"Henan", "Shandong", "Liaoning", "Hunan"} {
		if r.index("child "+place+" ") > after {
			t.Errorf("the parent looked at its variables before child %s ran, though it waited for it", place)
		}
	}
	if pid := r.findInt(`^parent \(pid=(\d+)\): after`); pid != r.pid {
		t.Errorf("the parent says its pid is %d; it is %d", pid, r.pid)
	}
	r.find(`^parent: mp.Run returned the child's counter=99; mine is still counter=1000$`)
}

func testSleepers(t *testing.T) {
	r := run(t, "sleepers", "-unit", "100ms")
	serial := []string{"process 1 start", "process 1 end", "process 2 start", "process 2 end", "process 3 start", "process 3 end"}
	r.section("direct calls").head(6).want(serial...)
	r.section("one by one").head(6).want(serial...)

	par := r.section("start all, then join all")
	lastStart := max(par.index("process 1 start"), par.index("process 2 start"), par.index("process 3 start"))
	if firstEnd := min(par.index("process 1 end"), par.index("process 2 end"), par.index("process 3 end")); lastStart > firstEnd {
		t.Error("in parallel, a process ended before all had started")
	}

	d := seconds(t, r.find(`^direct calls took ([0-9.]+)s$`)[1])
	o := seconds(t, r.find(`^start\+join one by one took ([0-9.]+)s$`)[1])
	p := seconds(t, r.find(`^start all, join all took ([0-9.]+)s$`)[1])
	if p >= 0.75*d || p >= 0.75*o {
		t.Errorf("parallel took %.3fs, serial %.3fs (calls) and %.3fs (processes): want parallel < 0.75 × serial", p, d, o)
	}
	if d < 0.6 || o < 0.6 || p < 0.3 {
		t.Errorf("timings %.3fs, %.3fs, %.3fs are shorter than the sleeps", d, o, p)
	}
}

func testPids(t *testing.T) {
	r := run(t, "pids", "-unit", "100ms")
	r.find(`^parent: before Start, p.Pid\(\)=0$`)
	parent := r.findInt(`parent pid=(\d+)$`)
	if parent != r.pid {
		t.Errorf("the parent says its pid is %d; it is %d", parent, r.pid)
	}
	if ppid := r.findInt(`parent ppid=(\d+)$`); ppid != os.Getpid() {
		t.Errorf("the parent says its ppid is %d; it is %d (this test)", ppid, os.Getpid())
	}
	child := r.findInt(`child pid=(\d+)$`)
	checkChild(t, "child", child, r.findInt(`child ppid=(\d+)$`), parent)
	if seen := r.findInt(`p.Pid\(\): child pid=(\d+)$`); seen != child {
		t.Errorf("p.Pid()=%d in the parent, but the child's pid is %d", seen, child)
	}
	if pp := r.findInt(`^child: mp.Parent\(\) says my parent is MainProcess, pid (\d+)$`); pp != parent {
		t.Errorf("mp.Parent().Pid=%d, want %d", pp, parent)
	}
	if r.index("main process: done") > r.index("child: end") {
		t.Error("the child ended before the main process's code")
	}
}

func testZombies(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the zombies example reads /proc")
	}
	r := run(t, "zombies", "-unit", "300ms")
	s := r.section("what a zombie is")
	pid := s.findInt(`^os/exec child pid=(\d+) exited and was not waited for: state=Z \(zombies <defunct>\)$`)
	s.find(fmt.Sprintf(`^after cmd.Wait\(\) reaped it: pid=%d in /proc=false$`, pid))

	s = r.section("mp reaps every child")
	s.find(`^while they run: 5 child processes: `)
	s.find(`^after they exited: no child processes$`)
	s.find(`^zombies=0 mp.ActiveChildren\(\)=0$`)

	s = r.section("no orphans")
	m := s.find(`^middle pid=(\d+) has a child: grandchild pid=(\d+) ppid=(\d+) `)
	middle, grand := atoi(t, m[1]), atoi(t, m[2])
	checkChild(t, "grandchild", grand, atoi(t, m[3]), middle)
	// The process checked is the grandchild itself: the pid mp reports for it, which is the pid
	// the grandchild reports for itself — not some other child of the middle process.
	ids := s.find(`^the grandchild's pid: mp reports (\d+), the grandchild says (\d+)$`)
	if byMP, bySelf := atoi(t, ids[1]), atoi(t, ids[2]); byMP != grand || bySelf != grand {
		t.Errorf("the example checked pid %d, but mp reports %d for the grandchild, which says its pid is %d", grand, byMP, bySelf)
	}
	s.find(`^middle: Wait returned: .* was killed by signal: killed$`)
	s.find(fmt.Sprintf(`^grandchild pid=%d alive=false `, grand))
}

func testDemo(t *testing.T) {
	r := runWithStderr(t, "demo")
	for _, part := range []string{"(a)", "(b)", "(c)", "(d)", "(e)", "(f)"} {
		r.index(part + " ")
	}
	m := r.find(`^a pool of (\d+) worker processes: (\[.*\])$`)
	n := atoi(t, m[1])
	workers := pidList(t, m[2])
	if n < 1 || len(workers) != n || slices.Contains(workers, r.pid) {
		t.Fatalf("a pool of %d workers with pids %v (main %d)", n, workers, r.pid)
	}
	if cpus := r.findInt(`^mp demo: main process pid=\d+, (\d+) CPUs$`); cpus != n {
		t.Errorf("the pool has %d workers for %d CPUs, want one per CPU", n, cpus)
	}

	// (a) mp.Map on the pool, with a progress bar on standard error.
	serial := r.find(`^    serial, in this process: +([0-9.]+)s, found (\d+) primes$`)
	par := r.find(`^    mp.Map on (\d+) workers: +([0-9.]+)s, found (\d+) primes; the same count in every range: (true|false)$`)
	if serial[2] != par[3] || serial[2] == "0" || par[4] != "true" || atoi(t, par[1]) != n {
		t.Errorf("serial found %s primes; mp.Map on %s workers %s, the same in every range: %s", serial[2], par[1], par[3], par[4])
	}
	// The speedup is printed, not asserted: CPU timings belong to benchmarks, and a busy machine
	// can take it away. Both durations must have been measured.
	if s, p := seconds(t, serial[1]), seconds(t, par[2]); s <= 0 || p <= 0 {
		t.Errorf("durations serial %.2fs, mp.Map %.2fs", s, p)
	}
	bars := 0
	for _, l := range r.stderr {
		if regexp.MustCompile(`^    \((a|b)\) (mp.Map|futures) \[#{20}\] 100% 16/16  \S+/s  in \S+$`).MatchString(l) {
			bars++
		}
		if strings.Contains(l, "\r") {
			t.Errorf("the progress bar drew with carriage returns on a pipe: %q", l)
		}
	}
	if bars != 2 {
		t.Errorf("standard error has %d complete progress bars, want 2 ((a) and (b)):\n%s", bars, strings.Join(r.stderr, "\n"))
	}

	// (b) One worker killed with SIGKILL: exactly one task failed, with ErrWorkerDied; the others
	// are right; the pool replaced the worker.
	s := r.part("(b)")
	before := pidList(t, s.find(`^    workers before: (\[.*\])$`)[1])
	victim := s.findInt(`^    after the first result: sent SIGKILL to worker pid=(\d+), busy with a task$`)
	if !slices.Contains(before, victim) {
		t.Errorf("the killed pid %d is not one of the workers %v", victim, before)
	}
	s.find(`^    tasks done: 16 of 16; 15 returned the right count, 0 a wrong one, 1 failed$`)
	failed := s.find(`^    the failed task (\d+): mp: process PoolWorker-\d+ \(pid (\d+)\) was killed by signal: killed while running this task$`)
	if atoi(t, failed[2]) != victim {
		t.Errorf("the failed task's worker was pid %s, the killed one %d", failed[2], victim)
	}
	if pid := s.findInt(`^    errors.Is\(err, mp.ErrWorkerDied\) = true; \*mp.ExitError: pid=(\d+) \(the killed worker: true\), Code\(\)=-9$`); pid != victim {
		t.Errorf("ExitError.Pid=%d, the killed worker %d", pid, victim)
	}
	am := s.find(`^    workers after: (\[.*\]): the pool replaced pid (\d+) with pid (\d+)$`)
	after := pidList(t, am[1])
	if replaced, by := atoi(t, am[2]), atoi(t, am[3]); replaced != victim || !slices.Contains(after, by) || slices.Contains(before, by) ||
		slices.Contains(after, victim) || len(after) != n {
		t.Errorf("workers before %v, after %v: want %d killed and replaced by a new pid (reported: %d by %d)", before, after, victim, replaced, by)
	}

	// (c) and (d): a sentinel and a panic crossing back from a worker.
	s = r.part("(c)")
	s.find(`^    errors.Is\(err, ErrOutOfStock\) = true$`)
	pe := s.find(`^    mp.Apply returned: mp: process PoolWorker-\d+ \(pid (\d+)\): buying "a Go book": out of stock$`)
	if pid := s.findInt(`^    \*mp.ProcessError from worker pid=(\d+) \(one of the pool's: true\), original type \*fmt.wrapError$`); pid != atoi(t, pe[1]) || pid == r.pid {
		t.Errorf("ProcessError.Pid=%d, the message says pid %s (main %d)", pid, pe[1], r.pid)
	}
	s = r.part("(d)")
	s.find(`^    mp.Apply returned: mp: process PoolWorker-\d+ \(pid \d+\) panicked: runtime error: index out of range \[5\] with length 3$`)
	if i := s.index("where it panicked"); i+2 >= len(s.lines) || !strings.HasPrefix(strings.TrimSpace(s.lines[i+1]), "main.") ||
		!strings.Contains(s.lines[i+2], "demo/main.go:") {
		t.Error("the worker's stack does not start at the panicking function in demo/main.go")
	}
	s.find(`^    the worker lives on: pid=\d+ is one of the pool's: true$`)

	// (e) A task timeout that kills the worker running it.
	s = r.part("(e)")
	spinner := s.findInt(`^    \[worker\] pid=(\d+): looping forever`)
	if ms := s.findInt(`^    mp.Apply returned after (\d+)ms: mp: task demo.spin on PoolWorker-\d+: context deadline exceeded$`); ms < 200 || ms > 1000 {
		t.Errorf("mp.Apply returned after %dms, want soon after its 200ms timeout", ms)
	}
	km := s.find(`^    the pool killed worker pid=(\d+) after its 100ms cancel grace \(replaced (\d+)ms after the call\); it still exists: false$`)
	if atoi(t, km[1]) != spinner || spinner == r.pid {
		t.Errorf("the spinning worker was pid %d, the one killed %s (main %d)", spinner, km[1], r.pid)
	}
	if ms := atoi(t, km[2]); ms < 300 || ms > 2000 {
		t.Errorf("the worker was replaced %dms after the call, want after 200ms of timeout and 100ms of grace", ms)
	}
	if now := pidList(t, s.find(`^    workers now: (\[.*\])$`)[1]); len(now) != n || slices.Contains(now, spinner) {
		t.Errorf("workers after the timeout: %v, want %d without %d", now, n, spinner)
	}

	// (f) Nothing left: the workers seen are n at the start, one replacement in (b), one in (e).
	s = r.part("(f)")
	if seen := s.findInt(`^    pool.Shutdown returned: worker processes seen (\d+), still running 0$`); seen != n+2 {
		t.Errorf("%d worker processes seen, want %d: %d, and one replacement each in (b) and (e)", seen, n+2, n)
	}
	s.find(`^    mp.ActiveChildren\(\) = \[\] \(0 processes\)$`)
}
