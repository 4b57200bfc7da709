package examples_test

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// pidSet returns the set of the given pids, failing unless they are all different real pids other
// than the example's own.
func (r *result) pidSet(what string, pids []int) map[int]bool {
	r.t.Helper()
	set := map[int]bool{}
	for _, p := range pids {
		if p <= 0 || p == r.pid {
			r.t.Errorf("%s: pid %d, want a child's pid (the main process is %d)", what, p, r.pid)
		}
		set[p] = true
	}
	if len(set) != len(pids) {
		r.t.Errorf("%s: pids %v are not all different", what, pids)
	}
	return set
}

// sameSet fails unless got and want hold the same pids.
func sameSet(t *testing.T, what string, got, want map[int]bool) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s: pids %v, want %v", what, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

func testTCPEcho(t *testing.T) {
	const clients, lines = 3, 3
	r := run(t, "tcp_echo", "-clients", fmt.Sprint(clients), "-lines", fmt.Sprint(lines))
	if pid := r.findInt(`^server pid=(\d+): listening on 127\.0\.0\.1:\d+$`); pid != r.pid {
		t.Errorf("the server says its pid is %d; it is %d", pid, r.pid)
	}

	// Every accepted connection went to a new child process.
	var pids []int
	for _, m := range r.findAll(`^server: connection #\d+ from \S+ handed to child pid=(\d+); closed my copy$`) {
		pids = append(pids, atoi(t, m[1]))
	}
	if len(pids) != clients {
		t.Fatalf("the server handed %d connections to children, want %d", len(pids), clients)
	}
	children := r.pidSet("children", pids)
	serving := map[int]bool{}
	for _, m := range r.findAll(`^child pid=(\d+) ppid=(\d+): serving connection #\d+ from \S+$`) {
		checkChild(t, "serving child", atoi(t, m[1]), atoi(t, m[2]), r.pid)
		serving[atoi(t, m[1])] = true
	}
	sameSet(t, "children that say they serve a connection", serving, children)

	// Each client was greeted by a different child, and all were greeted before any sent a line:
	// the children served at the same time.
	all := r.index(fmt.Sprintf("all %d clients have been greeted: %d connections open at once", clients, clients))
	greeter := map[string]int{} // client → child pid
	for _, m := range r.findAll(`^client (\d+): greeted with "hello from pid (\d+)"$`) {
		greeter[m[1]] = atoi(t, m[2])
		if r.index(m[0]) > all {
			t.Errorf("client %s was greeted after all were", m[1])
		}
	}
	sameSet(t, "children that greeted the clients", r.pidSet("greeters", slices.Collect(maps.Values(greeter))), children)
	for _, l := range r.lines[:all] {
		if strings.Contains(l, ": echo ") {
			t.Errorf("a line was echoed before every client had been greeted: %q", l)
		}
	}

	// Each child echoed its own client's lines, in order, and nothing else.
	for id, pid := range greeter {
		var echoed []string
		for _, m := range r.findAll(fmt.Sprintf(`^child pid=%d: connection #\d+: echo "(.*)"$`, pid)) {
			echoed = append(echoed, m[1])
		}
		var want []string
		for i := 1; i <= lines; i++ {
			want = append(want, fmt.Sprintf("line %d of client %s", i, id))
		}
		if !slices.Equal(echoed, want) {
			t.Errorf("child %d echoed %q, want client %s's lines %q", pid, echoed, id, want)
		}
		r.find(fmt.Sprintf(`^client %s: %d lines echoed back intact$`, id, lines))
		r.find(fmt.Sprintf(`^child pid=%d: connection #\d+: the client closed it after %d lines; exiting$`, pid, lines))
	}

	exited := map[int]bool{}
	for _, m := range r.findAll(`^server: child pid=(\d+) exited, exit code 0$`) {
		exited[atoi(t, m[1])] = true
	}
	sameSet(t, "children that exited with code 0", exited, children)
	if last := r.lines[len(r.lines)-1]; last != fmt.Sprintf("server: shut down; %d connections were served by %d child processes; running children: 0", clients, clients) {
		t.Errorf("last line %q", last)
	}
}

func testTCPPrefork(t *testing.T) {
	const workers, rounds = 3, 2
	r := run(t, "tcp_prefork", "-workers", fmt.Sprint(workers), "-rounds", fmt.Sprint(rounds))
	m := r.find(`^server pid=(\d+): listening on 127\.0\.0\.1:\d+; started 3 workers (\[.*\]) and closed my copy of the listener$`)
	if atoi(t, m[1]) != r.pid {
		t.Errorf("the server says its pid is %s; it is %d", m[1], r.pid)
	}
	all := r.pidSet("workers", pidList(t, m[2]))
	if len(all) != workers {
		t.Fatalf("%d workers, want %d", len(all), workers)
	}
	accepting := map[int]bool{}
	for _, m := range r.findAll(`^worker pid=(\d+) ppid=(\d+): accepting on 127\.0\.0\.1:\d+$`) {
		checkChild(t, "worker", atoi(t, m[1]), atoi(t, m[2]), r.pid)
		accepting[atoi(t, m[1])] = true
	}
	sameSet(t, "workers accepting on the shared listener", accepting, all)

	// In every round, the clients (connected at once) were served by all the workers.
	for round := 1; round <= rounds; round++ {
		var greeters []int
		for _, m := range r.findAll(fmt.Sprintf(`^round %d client \d+: greeted by worker pid (\d+); 2 lines echoed back intact$`, round)) {
			greeters = append(greeters, atoi(t, m[1]))
		}
		sameSet(t, fmt.Sprintf("round %d: workers that greeted the clients", round), r.pidSet("greeters", greeters), all)
		summary := pidList(t, r.find(fmt.Sprintf(`^round %d: %d clients served by %d different workers (\[.*\])$`, round, workers, workers))[1])
		sameSet(t, fmt.Sprintf("round %d: summary", round), r.pidSet("summary", summary), all)
	}
	for pid := range all {
		if n := len(r.findAll(fmt.Sprintf(`^worker pid=%d: its connection #\d+ from \S+: echoed 2 lines$`, pid))); n != rounds {
			t.Errorf("worker %d served %d connections, want %d", pid, n, rounds)
		}
		r.find(fmt.Sprintf(`^worker pid=%d: served its %d connections; exiting$`, pid, rounds))
		r.find(fmt.Sprintf(`^server: worker pid=%d exited, exit code 0$`, pid))
	}
	if last := r.lines[len(r.lines)-1]; last != "server: shut down; running children: 0" {
		t.Errorf("last line %q", last)
	}
}

func testProducerConsumer(t *testing.T) {
	r := run(t, "producer_consumer", "-unit", "5ms")
	m := r.find(`^main pid=(\d+): started producers egon \(pid (\d+)\) and taibai \(pid (\d+)\), consumers alex \(pid (\d+)\) and firedragon \(pid (\d+)\)$`)
	if atoi(t, m[1]) != r.pid {
		t.Errorf("the main process says its pid is %s; it is %d", m[1], r.pid)
	}
	pid := map[string]int{"egon": atoi(t, m[2]), "taibai": atoi(t, m[3]), "alex": atoi(t, m[4]), "firedragon": atoi(t, m[5])}
	r.pidSet("producers and consumers", slices.Collect(maps.Values(pid)))
	food := map[string]string{"egon": "bread", "taibai": "bone"}

	// Each producer produced its ten foods, in order.
	produced := map[string][]string{}
	lastProduced := -1
	for i, l := range r.lines {
		if m := regexp.MustCompile(`^(\w+) \(pid (\d+)\) produced (\w+?)(\d+)$`).FindStringSubmatch(l); m != nil {
			if atoi(t, m[2]) != pid[m[1]] || m[3] != food[m[1]] {
				t.Errorf("unexpected line %q", l)
			}
			produced[m[1]] = append(produced[m[1]], m[4])
			lastProduced = i
		}
	}
	want := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	for _, p := range []string{"egon", "taibai"} {
		if !slices.Equal(produced[p], want) {
			t.Errorf("%s produced %v, want %v", p, produced[p], want)
		}
	}
	// The sentinels are put once both producers are done.
	if sentinels := r.index("main: both producers are done; putting 2 nil sentinels, one per consumer"); sentinels < lastProduced {
		t.Error("the main process put the sentinels before the producers were done")
	}

	// Every food was eaten exactly once; each consumer got each producer's foods in order (FIFO),
	// and stopped at its nil after its last food.
	eaten := map[string]int{}
	total := 0
	for _, c := range []string{"alex", "firedragon"} {
		seq := map[string][]string{}
		last := -1
		for i, l := range r.lines {
			if m := regexp.MustCompile(fmt.Sprintf(`^%s \(pid (\d+)\) ate (\w+?)(\d+) from (\w+)$`, c)).FindStringSubmatch(l); m != nil {
				if atoi(t, m[1]) != pid[c] || food[m[4]] != m[2] {
					t.Errorf("unexpected line %q", l)
				}
				eaten[m[2]+m[3]]++
				seq[m[4]] = append(seq[m[4]], m[3])
				last = i
			}
		}
		for p, s := range seq {
			if !slices.IsSortedFunc(s, func(a, b string) int { return atoi(t, a) - atoi(t, b) }) {
				t.Errorf("%s ate %s's foods in the order %v, not the order they were put", c, p, s)
			}
		}
		stop := r.find(fmt.Sprintf(`^%s \(pid %d\) got nil: no more food; stopping after eating (\d+)$`, c, pid[c]))
		if n := atoi(t, stop[1]); n != len(seq["egon"])+len(seq["taibai"]) {
			t.Errorf("%s says it ate %d foods; it printed %d", c, n, len(seq["egon"])+len(seq["taibai"]))
		}
		if r.index(stop[0]) < last {
			t.Errorf("%s stopped before it ate its last food", c)
		}
		total += atoi(t, stop[1])
	}
	if len(eaten) != 20 || total != 20 {
		t.Errorf("%d different foods eaten, %d in all; want each of the 20 once: %v", len(eaten), total, eaten)
	}
	if last := r.lines[len(r.lines)-1]; last != "main: both consumers stopped; 0 foods left on the queue" {
		t.Errorf("last line %q", last)
	}
}

func testJoinableQueue(t *testing.T) {
	r := run(t, "joinable_queue", "-sleep", "10ms")
	if pid := r.findInt(`^main pid=(\d+): put 10 foods: Len\(\)=10 Unfinished\(\)=10$`); pid != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
	}
	consumer := r.findInt(`^main: started the daemon consumer alex \(pid (\d+)\); Join waits until every food is marked done$`)
	r.pidSet("consumer", []int{consumer})
	// Join returned after the consumer had eaten, in order, every food put.
	join := r.index("main: Join returned: Len()=0 Unfinished()=0; the consumer is still alive, waiting in Get: true")
	var ate []string
	for _, l := range r.lines[:join] {
		if strings.Contains(l, " ate ") {
			ate = append(ate, l)
		}
	}
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("alex (pid %d, daemon=true) ate a food%d", consumer, i))
	}
	if !slices.Equal(ate, want) {
		t.Errorf("before Join returned:\n\t%s\nwant\n\t%s", strings.Join(ate, "\n\t"), strings.Join(want, "\n\t"))
	}
	// Then the main process's code ended, and the daemon with it, killed while waiting in Get.
	r.lines = r.lines[join+1:]
	r.want("main: the main process's code is done",
		"main: after Cleanup: alex Alive()=false ExitCode()=-15 (terminated with the main process)")
}

func testPipeEOF(t *testing.T) {
	const n = 20
	r := run(t, "pipe_eof", "-n", fmt.Sprint(n))
	if pid := r.findInt(`^main pid=(\d+)$`); pid != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
	}

	s := r.section("the main process sends")
	cm := s.find(`^consumer pid=(\d+) ppid=(\d+): closing my copy of lp \(#1\)$`)
	consumer := atoi(t, cm[1])
	checkChild(t, "consumer", consumer, atoi(t, cm[2]), r.pid)
	var got, want []string
	for _, m := range s.findAll(fmt.Sprintf(`^consumer pid=%d: (food\d+)$`, consumer)) {
		got = append(got, m[1])
	}
	for i := range n {
		want = append(want, fmt.Sprintf("food%d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("the consumer received %v, want %v in order", got, want)
	}
	// io.EOF came after the last food, and only once the main process closed its copy of lp.
	eof := s.index(fmt.Sprintf("consumer pid=%d: Recv returned io.EOF (Python's EOFError) after %d messages: every copy of lp is closed", consumer, n))
	if eof != len(s.lines)-1 || eof < s.index(fmt.Sprintf("main: sent %d foods; closing my copy of lp (#2)", n)) {
		t.Errorf("the consumer's io.EOF is not its last line after the main process closed its copy of lp:\n\t%s", strings.Join(s.lines, "\n\t"))
	}

	s = r.section("a child sends")
	sm := s.find(`^sender pid=(\d+) ppid=(\d+): sent 3 messages; returning closes my copy of the send end$`)
	checkChild(t, "sender", atoi(t, sm[1]), atoi(t, sm[2]), r.pid)
	received := func(s *result, sender string) {
		t.Helper()
		var got []string
		for _, m := range s.findAll(`^main: received "(.*)"$`) {
			got = append(got, m[1])
		}
		want := []string{"message 0 from pid " + sender, "message 1 from pid " + sender, "message 2 from pid " + sender}
		if !slices.Equal(got, want) {
			t.Errorf("the main process received %q, want %q", got, want)
		}
	}
	received(s, sm[1])
	s.index("main: started the sender and closed my copy of the send end")
	if last := s.lines[len(s.lines)-1]; last != "main: Recv returned io.EOF after 3 messages" {
		t.Errorf("the section ends with %q, want the main process's io.EOF", last)
	}

	s = r.section("keeps its copy")
	sm = s.find(`^sender pid=(\d+) ppid=(\d+): sent 3 messages`)
	checkChild(t, "sender", atoi(t, sm[1]), atoi(t, sm[2]), r.pid)
	received(s, sm[1])
	s.lines = s.lines[s.index("main: the sender has exited"):]
	s.want("main: the sender has exited (ExitCode()=0): its copy of the send end is closed; mine is open",
		"main: Recv with a 200ms timeout returned context deadline exceeded: no io.EOF while this process holds a copy of the send end; without the timeout it would wait for ever",
		"main: after closing my copy, Recv returned EOF; errors.Is(err, io.EOF) = true")
}

func testPipeDuplex(t *testing.T) {
	r := run(t, "pipe_duplex")
	s := r.section("a duplex pipe")
	m := s.find(`^main pid=(\d+): started proc1 \(pid (\d+)\) with one end, proc2 \(pid (\d+)\) with the other$`)
	if atoi(t, m[1]) != r.pid {
		t.Errorf("the main process says its pid is %s; it is %d", m[1], r.pid)
	}
	r.pidSet("proc1 and proc2", []int{atoi(t, m[2]), atoi(t, m[3])})
	// proc2 receives proc1's message, then proc1 receives proc2's: messages go both ways.
	two := s.index(fmt.Sprintf("proc2 (pid %s) rec: hello", m[3]))
	one := s.index(fmt.Sprintf("proc1 (pid %s) rec: hello, too", m[2]))
	if two > one {
		t.Error("proc1 received its reply before proc2 received the message")
	}

	s = r.section("one-way pipe")
	w := s.find(`^main: received "one way, from pid (\d+)" from the writer \(pid (\d+)\)$`)
	if w[1] != w[2] {
		t.Errorf("the message says pid %s, the writer is pid %s", w[1], w[2])
	}
	r.pidSet("writer", []int{atoi(t, w[1])})
	s.find(`^main: Send on the receiving end: .*\(errors.Is\(err, mp.ErrInvalidOption\) = true\)$`)
}

func testQueueMany(t *testing.T) {
	r := run(t, "queue_many")
	if pid := r.findInt(`^main pid=(\d+): mp.Queue\[string\]\(len 0, cap 3\)$`); pid != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
	}
	inputs := r.pidSet("input processes", pidList(t, r.find(`^main: started 10 input processes (\[.*\])$`)[1]))
	outputs := r.pidSet("output processes", pidList(t, r.find(`^main: started 10 output processes (\[.*\])$`)[1]))
	if len(inputs) != 10 || len(outputs) != 10 {
		t.Fatalf("%d input and %d output processes, want 10 and 10", len(inputs), len(outputs))
	}
	for p := range inputs {
		if outputs[p] {
			t.Errorf("pid %d is both an input and an output process", p)
		}
	}
	// The queue held three values, no more, before any was taken.
	full := r.index("main: the queue is full: Len()=3 Cap()=3; the other input processes wait in Put")
	gets, puts := map[int]bool{}, map[int]bool{}
	var gotPids, putPids []int
	for _, m := range r.findAll(`^(\d+)\(get\):(\d+)\(put\):\d+\.\d{6}$`) {
		gotPids = append(gotPids, atoi(t, m[1]))
		putPids = append(putPids, atoi(t, m[2]))
		gets[atoi(t, m[1])], puts[atoi(t, m[2])] = true, true
		if r.index(m[0]) < full {
			t.Errorf("a value was taken before the queue was full: %q", m[0])
		}
	}
	// Each output process got one value, each put by a different input process.
	if len(gotPids) != 10 || len(gets) != 10 || len(puts) != 10 {
		t.Errorf("get lines from %v, of values put by %v: want ten of each, all different", gotPids, putPids)
	}
	sameSet(t, "processes that got a value", gets, outputs)
	sameSet(t, "processes that put the values got", puts, inputs)
	r.index("main: the input processes are done; shut the queue down (IsShutdown()=true)")
	if last := r.lines[len(r.lines)-1]; last != "main: the output processes are done; Len()=0" {
		t.Errorf("last line %q", last)
	}
}

func testQueueBasics(t *testing.T) {
	r := run(t, "queue_basics")
	r.section("put, get, full, empty").want(
		"mp.Queue[string](len 0, cap 3): Len()=0 full=false empty=true",
		"put a, b, c",
		"mp.Queue[string](len 3, cap 3): Len()=3 full=true empty=false",
		"TryPut(d): mp: queue full; errors.Is(err, mp.ErrQueueFull) = true",
		"Put(d) with a timeout: context deadline exceeded",
		"Get() = a",
		"Get() = b",
		"Get() = c",
		"mp.Queue[string](len 0, cap 3): Len()=0 full=false empty=true",
		"TryGet(): mp: queue empty; errors.Is(err, mp.ErrQueueEmpty) = true",
		"Get() with a timeout: context deadline exceeded")

	s := r.section("between processes")
	m := s.find(`^main pid=(\d+): started the child \(pid (\d+)\); putting 1\.\.6 on a queue of capacity 3$`)
	if atoi(t, m[1]) != r.pid {
		t.Errorf("the main process says its pid is %s; it is %d", m[1], r.pid)
	}
	var got []string
	for _, c := range s.findAll(`^child pid=(\d+) ppid=(\d+): Get\(\) = (\d+)$`) {
		checkChild(t, "child", atoi(t, c[1]), atoi(t, c[2]), r.pid)
		if c[1] != m[2] {
			t.Errorf("a child with pid %s; the main process started pid %s", c[1], m[2])
		}
		got = append(got, c[3])
	}
	if want := []string{"1", "2", "3", "4", "5", "6"}; !slices.Equal(got, want) {
		t.Errorf("the child got %v, want %v in order", got, want)
	}
	s.find(`^main: all 6 put and taken; Len\(\)=0$`)

	r.section("Shutdown").want(
		"put x, y, then Shutdown(): IsShutdown()=true Len()=2",
		"Put(z): mp: closed: Put on a queue that was shut down; errors.Is(err, mp.ErrClosed) = true",
		"Get() = x",
		"Get() = y",
		"Get(): mp: closed: the queue was shut down and is empty; errors.Is(err, mp.ErrClosed) = true")
}
