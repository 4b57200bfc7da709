// Command zombies shows that mp leaves neither zombies nor orphans. Run it and you see three
// parts: a zombie made on purpose with os/exec, in state Z until it is waited for; five mp
// children that exit with no Wait and leave no zombie; and a child killed with SIGKILL whose own
// child dies with it instead of living on as an orphan.
//
// In Python a child that has exited stays a zombie until its parent joins it, or until
// multiprocessing happens to poll it (in the next start() or active_children()); and the children
// of a parent killed with SIGKILL live on, adopted by the system.
//
// A zombie is a child that has exited while its parent has not yet waited for it: the kernel
// keeps its exit status, and `ps` shows it as <defunct> (state Z). The first part makes one with
// plain os/exec, to show what it looks like. mp reaps every child as soon as it exits, Wait or no
// Wait, so the second part finds no zombie.
//
// An orphan is a child whose parent has died while it still runs; the system (pid 1, or the
// nearest "subreaper") adopts it. With mp a child dies with its parent however the parent dies,
// even by SIGKILL, so the third part kills a child that has a child of its own and shows that the
// grandchild — the process whose pid mp reports for it — is gone too.
//
// The example reads /proc, so it runs on Linux only; elsewhere it says so and exits.
//
//	go run ./examples/zombies -unit 100ms
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mp-go/mp"
)

// Sleep sleeps for d.
var Sleep = mp.Register("zombies.sleep", func(ctx context.Context, d time.Duration) (struct{}, error) {
	time.Sleep(d)
	return struct{}{}, nil
})

// PidReport says who reported which pid: "mp" for the pid that mp, in the middle process, reports
// for the grandchild it started, "self" for the grandchild's own os.Getpid().
type PidReport struct {
	Who string
	Pid int
}

// FamilyArg is the argument of the middle process and of the grandchild: how long to sleep, and
// where to report pids.
type FamilyArg struct {
	Sleep   time.Duration
	Reports *mp.Queue[PidReport]
}

// Grandchild reports its own pid, then sleeps.
var Grandchild = mp.Register("zombies.grandchild", func(ctx context.Context, a FamilyArg) (struct{}, error) {
	if err := a.Reports.Put(ctx, PidReport{Who: "self", Pid: os.Getpid()}); err != nil {
		return struct{}{}, err
	}
	sleep(ctx, a.Sleep)
	return struct{}{}, nil
})

// Middle starts a grandchild, reports the pid mp gives for it, then sleeps.
var Middle = mp.Register("zombies.middle", func(ctx context.Context, a FamilyArg) (struct{}, error) {
	p := mp.NewProcess(Grandchild, a, mp.WithName("grandchild"))
	if err := p.Start(ctx); err != nil {
		return struct{}{}, err
	}
	if err := a.Reports.Put(ctx, PidReport{Who: "mp", Pid: p.Pid()}); err != nil {
		return struct{}{}, err
	}
	sleep(ctx, a.Sleep)
	return struct{}{}, nil
})

// sleep sleeps for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

func main() {
	mp.Init()
	defer mp.Cleanup()

	plain := flag.Bool("plain-child", false, "exit at once: the plain os/exec child of the first part")
	var unit time.Duration
	flag.DurationVar(&unit, "unit", 200*time.Millisecond, "how long the children of the second part run")
	flag.Parse()
	if *plain {
		return
	}
	if runtime.GOOS != "linux" {
		fmt.Printf("this example reads /proc, which %s does not have; nothing to show\n", runtime.GOOS)
		return
	}
	ctx := context.Background()
	fmt.Printf("this process: pid=%d\n", os.Getpid())
	zombie()
	noZombies(ctx, unit)
	noOrphans(ctx)
}

// zombie makes a zombie with plain os/exec, shows it, and reaps it.
func zombie() {
	fmt.Println("== what a zombie is: a plain os/exec child nobody waits for ==")
	exe, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(exe, "-plain-child")
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	pid := cmd.Process.Pid
	st, ok := poll(func() (stat, bool) {
		st, ok := readStat(pid)
		return st, ok && st.State == "Z"
	})
	if !ok {
		log.Fatalf("os/exec child %d did not become a zombie: %+v", pid, st)
	}
	fmt.Printf("os/exec child pid=%d exited and was not waited for: state=%s (%s <defunct>)\n", pid, st.State, st.Comm)
	if err := cmd.Wait(); err != nil {
		log.Fatal(err)
	}
	_, exists := readStat(pid)
	fmt.Printf("after cmd.Wait() reaped it: pid=%d in /proc=%t\n", pid, exists)
}

// noZombies starts children that exit on their own, never calls Wait, and finds no zombie.
func noZombies(ctx context.Context, unit time.Duration) {
	fmt.Println("== mp reaps every child, even without Wait ==")
	for range 5 {
		p := mp.NewProcess(Sleep, unit)
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("started 5 children that exit after %v; Wait is never called\n", unit)
	fmt.Printf("while they run: %s\n", describe(children(os.Getpid())))
	time.Sleep(2 * unit)
	kids, _ := poll(func() ([]stat, bool) {
		kids := children(os.Getpid())
		return kids, len(kids) == 0
	})
	zombies := 0
	for _, k := range kids {
		if k.State == "Z" {
			zombies++
		}
	}
	fmt.Printf("after they exited: %s\n", describe(kids))
	fmt.Printf("zombies=%d mp.ActiveChildren()=%d\n", zombies, len(mp.ActiveChildren()))
}

// noOrphans kills a child that has a child, and shows that the grandchild died too. It checks
// the grandchild by the pid mp reports for it (the middle process sends it back on a queue), not
// by looking for some child of the middle process: that could be another, short-lived process.
func noOrphans(ctx context.Context) {
	fmt.Println("== no orphans: a child's children die with it ==")
	reports, err := mp.NewQueue[PidReport](0)
	if err != nil {
		log.Fatal(err)
	}
	defer reports.Close()
	middle := mp.NewProcess(Middle, FamilyArg{Sleep: time.Hour, Reports: reports}, mp.WithName("middle"))
	if err := middle.Start(ctx); err != nil {
		log.Fatal(err)
	}
	// The pid mp reports for the grandchild, and the one the grandchild reports for itself.
	pids := map[string]int{}
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(pids) < 2 {
		r, err := reports.Get(wait)
		if err != nil {
			log.Fatalf("waiting for the grandchild's pid: %v", err)
		}
		pids[r.Who] = r.Pid
	}
	grandPid := pids["mp"]
	grand, ok := readStat(grandPid)
	if !ok || grand.PPid != middle.Pid() {
		log.Fatalf("the grandchild pid=%d that mp reports is not a child of the middle process %d: %+v (in /proc: %t)", grandPid, middle.Pid(), grand, ok)
	}
	fmt.Printf("middle pid=%d has a child: grandchild pid=%d ppid=%d state=%s\n", middle.Pid(), grand.Pid, grand.PPid, grand.State)
	fmt.Printf("the grandchild's pid: mp reports %d, the grandchild says %d\n", pids["mp"], pids["self"])

	fmt.Printf("killing middle (pid=%d) with SIGKILL\n", middle.Pid())
	if err := middle.Kill(); err != nil {
		log.Fatal(err)
	}
	err = middle.Wait(ctx)
	var exitErr *mp.ExitError
	if !errors.As(err, &exitErr) {
		log.Fatalf("Wait returned %v, want an *mp.ExitError", err)
	}
	fmt.Printf("middle: Wait returned: %v\n", err)

	st, dead := poll(func() (stat, bool) {
		st, ok := readStat(grand.Pid)
		return st, !ok || st.State == "Z"
	})
	switch {
	case !dead:
		fmt.Printf("grandchild pid=%d alive=true: an orphan, adopted by pid %d\n", grand.Pid, st.PPid)
		os.Exit(1)
	case st.State == "Z":
		fmt.Printf("grandchild pid=%d alive=false (killed with its parent; pid %d adopted it and has not reaped it yet)\n", grand.Pid, st.PPid)
	default:
		fmt.Printf("grandchild pid=%d alive=false (killed with its parent, and gone from /proc)\n", grand.Pid)
	}
}

// stat is what this example needs from /proc/PID/stat.
type stat struct {
	Pid   int
	Comm  string
	State string // R running, S sleeping, Z zombie, …
	PPid  int
}

// readStat reads /proc/PID/stat; ok is false when there is no such process.
func readStat(pid int) (st stat, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, false
	}
	// "pid (comm) state ppid ...": comm may contain spaces and parentheses.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return stat{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 2 {
		return stat{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return stat{}, false
	}
	return stat{Pid: pid, Comm: s[open+1 : end], State: f[0], PPid: ppid}, true
}

// children lists the processes whose parent is ppid, zombies included.
func children(ppid int) []stat {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		log.Fatal(err)
	}
	var out []stat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && st.PPid == ppid {
			out = append(out, st)
		}
	}
	return out
}

// describe formats a list of processes as `ps` would, briefly.
func describe(ps []stat) string {
	if len(ps) == 0 {
		return "no child processes"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("pid=%d state=%s", p.Pid, p.State)
	}
	return fmt.Sprintf("%d child processes: %s", len(ps), strings.Join(parts, ", "))
}

// poll calls f every 10 ms until it reports true, for up to 5 seconds, and returns its last value.
func poll[T any](f func() (T, bool)) (T, bool) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, ok := f()
		if ok || time.Now().After(deadline) {
			return v, ok
		}
		time.Sleep(10 * time.Millisecond)
	}
}
