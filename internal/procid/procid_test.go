//go:build unix

package procid

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

func TestSelf(t *testing.T) {
	id := Self()
	if id.Pid() != os.Getpid() {
		t.Fatalf("Self().Pid() = %d; want %d", id.Pid(), os.Getpid())
	}
	if Self() != id || Of(os.Getpid()) != id {
		t.Fatalf("Self, Self, Of(getpid) = %x, %x, %x; want one ID", id, Self(), Of(os.Getpid()))
	}
	if (runtime.GOOS == "linux" || runtime.GOOS == "darwin") && id.Stamp() == 0 {
		t.Fatal("no start-time stamp on a system that has one")
	}
	if !Alive(id) {
		t.Fatal("Alive(Self()) = false")
	}
	if !Alive(Make(os.Getpid(), 0)) {
		t.Fatal("Alive of this pid with no stamp = false")
	}
}

// TestAliveReusedPid stands for a pid given to another process: a live pid with the wrong start
// time is not the process the ID names.
func TestAliveReusedPid(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep(1):", err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	live := Of(pid)
	if !Alive(live) {
		t.Fatalf("Alive(Of(%d)) = false for a running process", pid)
	}
	if live.Stamp() == 0 {
		t.Skip("this system does not tell start times")
	}
	if Alive(Make(pid, live.Stamp()+1)) {
		t.Fatal("a running pid with another start time is alive; want it seen as a different process")
	}
}

func TestAliveDeadAndZombie(t *testing.T) {
	if Alive(0) || Alive(Make(-1, 0)) {
		t.Fatal("the zero ID is alive")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skip("no true(1):", err)
	}
	pid := cmd.Process.Pid
	// Not reaped yet, it becomes a zombie once it exits.
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, zombie, ok := stat(pid); ok && zombie {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d did not become a zombie", pid)
			}
			time.Sleep(time.Millisecond)
		}
		if Alive(Make(pid, 0)) {
			t.Fatal("a zombie is alive")
		}
	}
	cmd.Wait()
	if Alive(Make(pid, 0)) {
		t.Fatalf("pid %d is alive after it exited and was reaped", pid)
	}
}

func TestStatParsesOddNames(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux /proc only")
	}
	// A command name with spaces and parentheses must not shift the fields.
	dir := t.TempDir()
	exe := dir + "/a) b (c"
	if err := os.Symlink("/bin/sleep", exe); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(exe, "60")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	st, zombie, ok := stat(cmd.Process.Pid)
	if !ok || zombie || st == 0 {
		t.Fatalf("stat of a process named %q = %d, %v, %v", exe, st, zombie, ok)
	}
}
