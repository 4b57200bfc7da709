package examples_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// pidsOf returns the pids in the first submatch of every line matching pattern.
func (r *result) pidsOf(pattern string) []int {
	r.t.Helper()
	var pids []int
	for _, m := range r.findAll(pattern) {
		pids = append(pids, atoi(r.t, m[1]))
	}
	return pids
}

func testTickets(t *testing.T) {
	const n = 8
	for _, lock := range []bool{false, true} {
		t.Run(fmt.Sprintf("lock=%t", lock), func(t *testing.T) {
			r := run(t, "tickets", fmt.Sprintf("-lock=%t", lock), "-n", fmt.Sprint(n), "-unit", "20ms")
			head := fmt.Sprintf(`^main pid=(\d+): db.txt = \{"count": 1\}; %d buyers; lock=%t$`, n, lock)
			if pid := r.findInt(head); pid != r.pid {
				t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
			}
			buyers := r.pidSet("buyers", pidList(t, r.find(`^main: the buyers (\[.*\]) are done$`)[1]))
			if len(buyers) != n {
				t.Fatalf("%d buyers, want %d", len(buyers), n)
			}
			// Every buyer searched before the sale opened, and saw the one ticket.
			sameSet(t, "buyers that saw 1 left", r.pidSet("searches", r.pidsOf(`^process (\d+): 1 left$`)), buyers)

			var bought, soldOut []int
			for _, m := range r.findAll(`^process (\d+) \(ppid (\d+)\): read count=(\d+): (bought a ticket|sold out)!$`) {
				pid := atoi(t, m[1])
				checkChild(t, "buyer", pid, atoi(t, m[2]), r.pid)
				switch {
				case m[4] == "bought a ticket" && m[3] == "1":
					bought = append(bought, pid)
				case m[4] == "sold out" && m[3] == "0":
					soldOut = append(soldOut, pid)
				default:
					t.Errorf("line %q", m[0])
				}
			}
			sameSet(t, "buyers that tried to buy", r.pidSet("tries", append(slices.Clone(bought), soldOut...)), buyers)
			want := 1
			if !lock {
				// Every buyer read count=1 before any wrote: all bought the one ticket.
				want = n
			}
			if len(bought) != want || len(soldOut) != n-want {
				t.Errorf("lock=%t: %d buyers bought the ticket and %d found it sold out, want %d and %d", lock, len(bought), len(soldOut), want, n-want)
			}
			if !lock && len(bought) < 2 {
				t.Errorf("without a lock only %d buyers got the ticket: the race did not show", len(bought))
			}
			r.find(fmt.Sprintf(`^main: tickets sold: %d, of the 1 there was; db.txt says \{"count": 0\}$`, want))
		})
	}
}

func testLockPids(t *testing.T) {
	r := run(t, "lock_pids")
	if pid := r.findInt(`^Main: (\d+)$`); pid != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
	}
	threads := r.pidsOf(`^thread (\d+)$`)
	if len(threads) != 5 {
		t.Errorf("%d thread lines, want 5", len(threads))
	}
	for _, p := range threads {
		if p != r.pid {
			t.Errorf("a goroutine printed pid %d; goroutines share the main process's pid %d", p, r.pid)
		}
	}
	procs := r.pidSet("process lines", r.pidsOf(`^process (\d+)$`))
	started := r.pidSet("started processes", pidList(t, r.find(`^Main: the processes were (\[.*\])$`)[1]))
	if len(started) != 5 {
		t.Errorf("%d processes started, want 5", len(started))
	}
	sameSet(t, "processes that printed", procs, started)
	// Every line came out whole: nothing but these lines, the threads' before the processes'.
	if len(r.lines) != 1+5+5+1 {
		t.Errorf("%d lines, want 12: some were mixed", len(r.lines))
	}
	for i, l := range r.lines[1 : len(r.lines)-1] {
		want := "thread "
		if i >= 5 {
			want = "process "
		}
		if !strings.HasPrefix(l, want) {
			t.Errorf("line %q: want the threads' 5 lines, then the processes' 5", l)
		}
	}
}

func testSharedCounter(t *testing.T) {
	const procs, n = 4, 50000
	const want = procs * n
	r := run(t, "shared_counter", "-procs", fmt.Sprint(procs), "-n", fmt.Sprint(n))
	if pid := r.findInt(fmt.Sprintf(`^main pid=(\d+): %d processes × %d increments each: the total should be %d$`, procs, n, want)); pid != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
	}
	section := func(header string) *result {
		s := r.section(header)
		if ps := s.pidSet(header, pidList(t, s.find(`^processes (\[.*\])$`)[1])); len(ps) != procs {
			t.Errorf("%s: %d processes, want %d", header, len(ps), procs)
		}
		return s
	}
	// Without a lock, updates are lost, but how many depends on the run.
	m := section("no lock").find(fmt.Sprintf(`^total=(\d+) \(want %d\): (-?\d+) updates lost$`, want))
	if total, lost := atoi(t, m[1]), atoi(t, m[2]); total <= 0 || total > want || total+lost != want {
		t.Errorf("no lock: total=%d lost=%d, want 0 < total <= %d", total, lost, want)
	}
	exact := fmt.Sprintf("total=%d (want %d): 0 updates lost", want, want)
	section("the Value's lock").index(exact)
	section("atomic").index(exact)
	section("an mp.Mutex around an mp.Array").index(fmt.Sprintf("count=%d (want %d) sum=%d (want %d)", want, want, want*(want+1)/2, want*(want+1)/2))
}

func testSyncPrimitives(t *testing.T) {
	r := run(t, "sync_primitives")
	if pid := r.findInt(`^main pid=(\d+)$`); pid != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
	}

	// Event: every child waited before the main process set the event, and went on after.
	s := r.section("Event")
	set := s.index("event: main: 3 children wait; IsSet()=false; setting the event")
	waiters := s.pidSet("event waiters", s.pidsOf(`^event: child (\d+) waits for the event \(IsSet\(\)=false\)$`))
	went := s.pidSet("event goers", s.pidsOf(`^event: child (\d+): the event is set, going on$`))
	if len(waiters) != 3 {
		t.Errorf("%d children waited for the event, want 3", len(waiters))
	}
	sameSet(t, "children that went on", went, waiters)
	for i, l := range s.lines {
		if strings.Contains(l, "waits for the event") && i > set || strings.Contains(l, "going on") && i < set {
			t.Errorf("line %q is on the wrong side of the main process's Set", l)
		}
	}
	s.index("event: main: the children are done; IsSet()=true")

	// Semaphore(2): the main process saw two children in and the semaphore empty; nobody ever saw
	// more than two in.
	s = r.section("Semaphore")
	s.index("semaphore: main: 2 children are in, Value()=0, TryAcquire(1)=false: the others wait in Acquire; letting them go")
	var in []int
	for _, m := range s.findAll(`^semaphore: child (\d+) is in \(inside=(\d+)\)$`) {
		in = append(in, atoi(t, m[1]))
		if k := atoi(t, m[2]); k < 1 || k > 2 {
			t.Errorf("%q: want 1 or 2 inside", m[0])
		}
	}
	users := s.pidSet("semaphore users", in)
	if len(users) != 5 {
		t.Errorf("%d children held the semaphore, want 5", len(users))
	}
	sameSet(t, "children that left", s.pidSet("leavers", s.pidsOf(`^semaphore: child (\d+) leaves$`)), users)
	s.index("semaphore: main: 5 children used a Semaphore(2); max concurrent = 2; Value()=2")

	// Condition: both consumers waited before the main process put the items, and each took one.
	s = r.section("Condition")
	put := s.index("condition: main: 2 consumers wait; putting 2 items and broadcasting")
	consumers := s.pidSet("consumers", s.pidsOf(`^condition: consumer (\d+): no item; waiting on the condition$`))
	if len(consumers) != 2 || s.lineIndex(`waiting on the condition$`) > put || s.lineIndex(`took an item`) < put {
		t.Errorf("want 2 consumers waiting before the main process puts items, and taking them after")
	}
	var left []string
	var took []int
	for _, m := range s.findAll(`^condition: consumer (\d+): woke up and took an item; (\d) left$`) {
		took = append(took, atoi(t, m[1]))
		left = append(left, m[2])
	}
	sameSet(t, "consumers that took an item", s.pidSet("takers", took), consumers)
	if !slices.Equal(left, []string{"1", "0"}) {
		t.Errorf("items left after each take: %v, want [1 0]", left)
	}
	s.index("condition: main: the consumers are done; 0 items left")

	// Barrier: all three arrived before any passed, with arrival indexes 0, 1 and 2.
	s = r.section("Barrier")
	arrived := s.pidSet("parties", s.pidsOf(`^barrier: party (\d+) arrives$`))
	passed := map[int]bool{}
	var idx []string
	for _, m := range s.findAll(`^barrier: party (\d+) passed with arrival index (\d+)$`) {
		passed[atoi(t, m[1])] = true
		idx = append(idx, m[2])
	}
	lastArrival := -1
	for i, l := range s.lines {
		if strings.HasSuffix(l, " arrives") {
			lastArrival = i
		}
	}
	if first := s.lineIndex(`passed with`); first < lastArrival {
		t.Errorf("a party passed before every party arrived")
	}
	slices.Sort(idx)
	if len(arrived) != 3 || !slices.Equal(idx, []string{"0", "1", "2"}) {
		t.Errorf("%d parties arrived, arrival indexes %v: want 3 parties, indexes 0, 1, 2", len(arrived), idx)
	}
	sameSet(t, "parties that passed", passed, arrived)
	s.index("barrier: main: the three parties are done")
}

func testSharedMemory(t *testing.T) {
	r := run(t, "shared_memory")
	s := r.section("a named segment")
	name := fmt.Sprintf("mp-example-shared-memory-%d", r.pid)
	if pid := s.findInt(fmt.Sprintf(`^main pid=(\d+): CreateSharedMemory: Name\(\)="%s" Size\(\)=64$`, name)); pid != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
	}
	s.find(`^main: CreateSharedMemory of the same name again: .*file exists \(errors.Is\(err, fs.ErrExist\) = true\)$`)
	child := s.findInt(fmt.Sprintf(`^child pid=(\d+): OpenSharedMemory\("%s", 64\) read "hello from pid %d"$`, name, r.pid))
	r.pidSet("the child", []int{child})
	s.index(fmt.Sprintf(`main: read back "reply from pid %d"`, child))
	s.index(fmt.Sprintf(`main: the child has closed it and exited; the name is still there: OpenSharedMemory("%s", 0) has Size()=64`, name))
	s.find(`^main: after Unlink, OpenSharedMemory: .* \(errors.Is\(err, fs.ErrNotExist\) = true\)$`)

	s = r.section("an anonymous segment")
	s.index(`main: CreateSharedMemory("", 64): Name()=""`)
	child = s.findInt(fmt.Sprintf(`^child pid=(\d+): got the segment in its argument: Name\(\)="" Size\(\)=64; read "hello from pid %d"$`, r.pid))
	r.pidSet("the child", []int{child})
	s.index(fmt.Sprintf(`main: read back "reply from pid %d"`, child))
}

func testRobustMutex(t *testing.T) {
	r := run(t, "robust_mutex")
	if pid := r.findInt(`^main pid=(\d+): starting a child that locks the mutex$`); pid != r.pid {
		t.Errorf("the main process says its pid is %d; it is %d", pid, r.pid)
	}
	holder := r.findInt(`^child pid=(\d+): locked the mutex; I will never unlock it$`)
	r.pidSet("the holder", []int{holder})
	r.index(fmt.Sprintf("main: the child (pid %d) holds the mutex: TryLock() = false, <nil>", holder))
	r.find(fmt.Sprintf(`^main: killed the child: Wait returned .*\(pid %d\) was killed by signal: killed; ExitCode\(\)=-9$`, holder))
	r.find(`^main: Lock returned .*; errors.Is\(err, mp.ErrOwnerDead\) = true$`)
	r.index("main: I hold the mutex now: Locked() = true")
	later := r.findInt(`^child pid=(\d+): Lock returned <nil>$`)
	r.pidSet("the later child", []int{later})
	if r.index("main: Lock returned <nil>: the mutex works as before") != len(r.lines)-1 {
		t.Error("the main process's last Lock is not the last line")
	}
}
